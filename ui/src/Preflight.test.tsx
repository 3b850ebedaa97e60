import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Heard, LiveApi, Outcome, PreflightView, Progress, StartRequest } from "./ipc";
import { heardLine, Preflight, pickUpLine, setupLine } from "./Preflight";

afterEach(cleanup);
beforeEach(() => globalThis.localStorage?.clear());

const ok = <T,>(value: T): Promise<Outcome<T>> => Promise.resolve({ ok: true, value });

const ready: PreflightView = {
  microphones: [
    {
      id: "pulseaudio:usb",
      name: "USB microphone",
      direction: "input",
      is_default: true,
      is_monitor: false,
    },
  ],
  soundProblem: null,
  modelReady: true,
  modelPath: "/models/ggml-tiny.en.bin",
  backend: { state: "ready" },
  offline: true,
  recordingNotice: null,
};

/** A session whose transcript goes to the organisation's server. */
const hosted: PreflightView = {
  ...ready,
  offline: false,
  recordingNotice: {
    version: "viva-2026-12",
    recorded: "A written transcript of what you and the interviewer say. No audio is recorded.",
    readers: "You, and the interviewers of “Acme”.",
    kept: "On this computer, and on viva.acme.test.",
  },
};

/** The core as pre-flight sees it. Each `preflight` call answers with the next of `checks` (the
 * last one repeats); the microphone test reports `heard`; set-up streams `setupSteps`. */
function fakeApi(
  checks: PreflightView | PreflightView[],
  micFails = false,
  heard: Heard[] = [],
  setupSteps: Progress[] = [],
  microphoneHeard: boolean | null = null,
): LiveApi {
  const answers = Array.isArray(checks) ? [...checks] : [checks];
  return {
    preflight: () => ok((answers.length > 1 ? answers.shift() : answers[0]) as PreflightView),
    startMicTest: (_microphone, onLevel, onHeard) => {
      if (micFails) {
        return Promise.resolve({
          ok: false,
          error: { code: "no_microphone", message: "No microphone can be used (busy)." },
        });
      }
      onLevel({ rms_dbfs: -30, peak_dbfs: -20 });
      for (const update of heard) onHeard(update);
      return ok(null);
    },
    stopMicTest: () => ok(null),
    setUpModel: (onProgress) => {
      for (const step of setupSteps) onProgress(step);
      return ok(null);
    },
    playTestTone: (_microphone, onLevel) => {
      onLevel({ rms_dbfs: -12, peak_dbfs: -10 });
      return ok({ played: true, microphoneHeard });
    },
    start: () => Promise.reject(new Error("unused")),
    setMuted: () => ok(null),
    sendAnswer: () => ok(null),
    end: () => ok(null),
    leave: () => ok(null),
  };
}

function show(
  checks: PreflightView | PreflightView[],
  micFails = false,
  heard: Heard[] = [],
  setupSteps: Progress[] = [],
  microphoneHeard: boolean | null = null,
) {
  let started: StartRequest | undefined;
  // Made once: a prop is read through a getter, which would make a fresh fake on every read.
  const api = fakeApi(checks, micFails, heard, setupSteps, microphoneHeard);
  render(() => (
    <Preflight
      api={api}
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
      expect(started()).toEqual({
        interviewId: null,
        microphone: null,
        textOnly: false,
        headphones: false,
        consent: null,
      }),
    );
    // Offline practice stays on this computer: no notice to agree to.
    expect(screen.queryByTestId("consent")).toBeNull();
  });

  it("shows what is recorded before the transcript leaves the computer, and starts only once agreed", async () => {
    const started = show(hosted);
    const notice = await screen.findByTestId("consent");
    expect(notice.textContent).toContain("No audio is recorded");
    expect(screen.getByTestId("consent-readers").textContent).toContain("Acme");
    expect(screen.getByTestId("consent-kept").textContent).toContain("viva.acme.test");
    const startButton = screen.getByTestId("start-interview") as HTMLButtonElement;
    await waitFor(() => expect(screen.getByTestId("check-backend").textContent).toBe("Ready"));
    expect(startButton.disabled).toBe(true);
    // A click on the disabled button (or one that slips through) starts nothing.
    fireEvent.click(startButton);
    const agree = screen.getByTestId("consent-agree") as HTMLInputElement;
    fireEvent.click(agree);
    expect(startButton.disabled).toBe(false);
    fireEvent.click(agree);
    expect(startButton.disabled).toBe(true);
    expect(started()).toBeUndefined();
    fireEvent.click(agree);
    fireEvent.click(startButton);
    await waitFor(() => expect(started()?.consent).toBe("viva-2026-12"));
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

  it("checks the backend again on Try again and lets the interview start once it answers", async () => {
    const unreachable = {
      ...ready,
      offline: false,
      backend: { state: "unreachable" as const, message: "connection refused" },
    };
    show([unreachable, { ...ready, offline: false }]);
    fireEvent.click(await screen.findByTestId("backend-retry"));
    await waitFor(() => expect(screen.getByTestId("check-backend").textContent).toBe("Ready"));
    expect(screen.queryByTestId("backend-retry")).toBeNull();
    expect((screen.getByTestId("start-interview") as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows the words the microphone test heard", async () => {
    show(ready, false, [
      { state: "listening" },
      { state: "speaking" },
      { state: "transcribing" },
      { state: "words", text: "Testing one two three." },
    ]);
    await waitFor(() =>
      expect(screen.getByTestId("heard").textContent).toBe("“Testing one two three.”"),
    );
  });

  it("says what to do when no words can be shown", () => {
    expect(heardLine({ state: "model_missing" })).toContain("Set up offline transcription");
    expect(heardLine({ state: "words", text: "" })).toContain("no words were recognised");
    expect(heardLine({ state: "unavailable", reason: "the model is damaged" })).toContain(
      "the model is damaged",
    );
  });

  it("sets the model up with progress, then offers spoken practice", async () => {
    const missing = { ...ready, modelReady: false };
    show(
      [missing, ready],
      false,
      [],
      [{ step: "verifying" }, { step: "converting", fraction: 0.5 }],
    );
    await waitFor(() => expect(screen.getByTestId("model-missing")).toBeTruthy());
    fireEvent.click(screen.getByTestId("model-setup"));
    await waitFor(() => expect(screen.getByTestId("check-model").dataset.ready).toBe("true"));
    expect(screen.queryByTestId("model-missing")).toBeNull();
    const textMode = screen.getByTestId("text-mode") as HTMLInputElement;
    expect(textMode.checked).toBe(false);
    expect(textMode.disabled).toBe(false);
    expect(screen.getByTestId("model-progress-text").textContent).toBe("Ready");
  });

  it("names each set-up step with its percentage", () => {
    expect(setupLine({ step: "downloading", fraction: 0.345 })).toBe("Downloading the model… 35 %");
    expect(setupLine({ step: "converting", fraction: 1 })).toBe("Preparing the model… 100 %");
  });

  it("shows why set-up failed and offers it again", async () => {
    const api = fakeApi({ ...ready, modelReady: false });
    api.setUpModel = () =>
      Promise.resolve({
        ok: false,
        error: { code: "model_setup_failed", message: "pip is not installed" },
      });
    render(() => <Preflight api={api} interviewId={null} onStart={() => {}} onBack={() => {}} />);
    fireEvent.click(await screen.findByTestId("model-setup"));
    await waitFor(() =>
      expect(screen.getByTestId("model-setup-error").textContent).toContain("pip"),
    );
    expect(screen.getByTestId("model-setup")).toBeTruthy();
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
    // The microphone could not tell: nothing is claimed.
    expect(screen.queryByTestId("tone-heard")).toBeNull();
  });

  it("says when the microphone picks up the speakers, and that echo cancellation is on", async () => {
    show(ready, false, [], [], true);
    expect(screen.getByTestId("echo-help").textContent).toContain("Echo cancellation is on");
    fireEvent.click(await screen.findByTestId("tone-play"));
    const heard = await screen.findByTestId("tone-heard");
    expect(heard.dataset.heard).toBe("true");
    expect(heard.textContent).toBe(
      "Your microphone picks up your speakers — echo cancellation is on.",
    );
    // Headphones on while the speakers are heard: a warning that they may be wrong.
    fireEvent.click(screen.getByTestId("headphones"));
    expect(screen.getByTestId("tone-heard").className).toBe("warning");
    expect(screen.getByTestId("echo-help").textContent).toContain("Echo cancellation is off");
  });

  it("turns echo cancellation off with headphones, and remembers the choice", async () => {
    const started = show(ready);
    const headphones = (await screen.findByTestId("headphones")) as HTMLInputElement;
    expect(headphones.checked).toBe(false);
    fireEvent.click(headphones);
    fireEvent.click(screen.getByTestId("start-interview"));
    await waitFor(() => expect(started()?.headphones).toBe(true));
    cleanup();
    // The next pre-flight starts from the candidate's last choice.
    show(ready);
    expect(((await screen.findByTestId("headphones")) as HTMLInputElement).checked).toBe(true);
  });

  it("words what the speaker test heard", () => {
    expect(pickUpLine(false, false)).toBe("Your microphone does not pick up your speakers.");
    expect(pickUpLine(true, true)).toContain("untick “I'm using headphones”");
  });
});
