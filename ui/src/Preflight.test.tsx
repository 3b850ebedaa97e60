import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import type { LiveApi, Outcome, PreflightView, StartRequest } from "./ipc";
import { Preflight } from "./Preflight";

afterEach(cleanup);

const ok = <T,>(value: T): Promise<Outcome<T>> => Promise.resolve({ ok: true, value });

const ready: PreflightView = {
  microphones: [{ id: "pulseaudio:usb", name: "USB microphone", isDefault: true }],
  soundProblem: null,
  modelReady: true,
  modelPath: "/models/ggml-tiny.en.bin",
  backend: { state: "ready" },
  offline: true,
};

function fakeApi(checks: PreflightView, micFails = false): LiveApi {
  return {
    preflight: () => ok(checks),
    startMicTest: (_microphone, onLevel) => {
      if (micFails) {
        return Promise.resolve({
          ok: false,
          error: { code: "no_microphone", message: "No microphone can be used (busy)." },
        });
      }
      onLevel({ microphone: true, rmsDbfs: -30, peakDbfs: -20 });
      return ok(null);
    },
    stopMicTest: () => ok(null),
    playTestTone: (onLevel) => {
      onLevel({ microphone: false, rmsDbfs: -12, peakDbfs: -10 });
      return ok(true);
    },
    start: () => Promise.reject(new Error("unused")),
    setMuted: () => ok(null),
    sendAnswer: () => ok(null),
    end: () => ok(null),
    leave: () => ok(null),
  };
}

function show(checks: PreflightView, micFails = false) {
  let started: StartRequest | undefined;
  render(() => (
    <Preflight
      api={fakeApi(checks, micFails)}
      interviewId={null}
      onStart={(request) => {
        started = request;
      }}
      onBack={() => {}}
    />
  ));
  return () => started;
}

describe("pre-flight", () => {
  it("shows the microphone's level and starts a spoken practice", async () => {
    const started = show(ready);
    await waitFor(() => expect(screen.getByTestId("preflight-level").dataset.level).toBe("50"));
    expect(screen.getByTestId("check-backend").textContent).toBe("Ready");
    expect(screen.getByTestId("check-model").textContent).toBe("Ready");
    fireEvent.click(screen.getByTestId("start-interview"));
    await waitFor(() =>
      expect(started()).toEqual({ interviewId: null, microphone: null, textOnly: false }),
    );
  });

  it("explains a missing microphone and offers text mode", async () => {
    const started = show({ ...ready, microphones: [] });
    await waitFor(() =>
      expect(screen.getByTestId("mic-problem").textContent).toContain("No microphone"),
    );
    expect((screen.getByTestId("text-mode") as HTMLInputElement).checked).toBe(true);
    fireEvent.click(screen.getByTestId("start-interview"));
    await waitFor(() => expect(started()?.textOnly).toBe(true));
  });

  it("falls back to text when the microphone cannot be opened", async () => {
    show(ready, true);
    await waitFor(() => expect(screen.getByTestId("mic-problem").textContent).toContain("busy"));
    expect((screen.getByTestId("text-mode") as HTMLInputElement).checked).toBe(true);
  });

  it("says clearly when the backend cannot be reached, and does not start", async () => {
    show({
      ...ready,
      offline: false,
      backend: { state: "unreachable", message: "connection refused" },
    });
    await waitFor(() =>
      expect(screen.getByTestId("check-backend").textContent).toContain("connection refused"),
    );
    expect(screen.getByTestId("check-backend").textContent).toContain("try again");
    expect((screen.getByTestId("start-interview") as HTMLButtonElement).disabled).toBe(true);
  });

  it("keeps offline practice in text when the transcription model is missing", async () => {
    const started = show({ ...ready, modelReady: false });
    await waitFor(() => expect(screen.getByTestId("model-missing")).toBeTruthy());
    const textMode = screen.getByTestId("text-mode") as HTMLInputElement;
    expect(textMode.checked).toBe(true);
    expect(textMode.disabled).toBe(true);
    fireEvent.click(screen.getByTestId("start-interview"));
    await waitFor(() => expect(started()?.textOnly).toBe(true));
  });

  it("plays a test sound and shows that it played", async () => {
    show(ready);
    fireEvent.click(await screen.findByTestId("tone-play"));
    await waitFor(() =>
      expect(screen.getByTestId("tone-result").textContent).toContain("hear a short tone"),
    );
  });
});
