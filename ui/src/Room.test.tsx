import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Answering, Ended, Line, LiveApi, LiveEvent, Outcome, Speaker } from "./ipc";
import { echoLine, Room } from "./Room";

afterEach(cleanup);

const ok = <T,>(value: T): Promise<Outcome<T>> => Promise.resolve({ ok: true, value });

const ended: Ended = {
  session_id: "s1",
  status: "completed",
  summary: {
    session_id: "s1",
    duration_ms: 65_000,
    lines: 2,
    candidate_lines: 1,
    interviewer_lines: 1,
    reconnects: 0,
    resessions: 0,
    cost_usd: null,
    cost_note: null,
    ended: { state: "ended", reason: "the call was ended" },
  },
  unsaved: 0,
  sync: { state: "local_only" },
};

/** A live session the test drives: `push` streams an update as the core would. */
function fakeLive(answering: Answering = { mode: "voice" }) {
  const calls: string[] = [];
  let push: (update: LiveEvent) => void = () => {};
  const api: LiveApi = {
    preflight: () => Promise.reject(new Error("unused")),
    startMicTest: () => ok(null),
    stopMicTest: () => ok(null),
    setUpModel: () => ok(null),
    playTestTone: () => ok({ played: true, microphoneHeard: null }),
    start: (request, onUpdate) => {
      push = onUpdate;
      calls.push(`start text=${request.textOnly}`);
      return ok({ sessionId: "s1", answering, localOnly: true });
    },
    setMuted: (muted) => {
      calls.push(`mute ${muted}`);
      return ok(null);
    },
    sendAnswer: (text) => {
      calls.push(`answer ${text}`);
      return ok(null);
    },
    end: () => {
      calls.push("end");
      return ok(ended);
    },
    leave: () => ok(null),
  };
  return { api, calls, push: (update: LiveEvent) => push(update) };
}

function line(itemId: string, seq: number, speaker: Speaker, text: string, isFinal: boolean): Line {
  return {
    item_id: itemId,
    seq,
    speaker,
    text,
    started_ms: seq * 4000,
    ended_ms: null,
    status: isFinal ? "final" : "partial",
    inaudible: null,
    interrupted: false,
  };
}

describe("the interview room", () => {
  it("counts the time since the call went live, and stops when it ends", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    try {
      const live = fakeLive();
      render(() => (
        <Room
          api={live.api}
          request={{ interviewId: null, microphone: null, textOnly: false }}
          onEnded={() => {}}
        />
      ));
      for (let i = 0; i < 5 && !live.calls.includes("start text=false"); i++) {
        await Promise.resolve();
      }
      const clock = screen.getByTestId("room-elapsed");
      vi.advanceTimersByTime(10_000);
      // Connecting does not count.
      expect(clock.textContent).toContain("0:00");
      live.push({ type: "state", state: { state: "live" } });
      vi.advanceTimersByTime(65_000);
      expect(clock.textContent).toContain("1:05");
      live.push({ type: "state", state: { state: "ended", reason: "done" } });
      vi.advanceTimersByTime(30_000);
      expect(clock.textContent).toContain("1:05");
    } finally {
      vi.useRealTimers();
    }
  });

  it("lets the candidate enlarge the question and transcript, and remembers it", async () => {
    globalThis.localStorage?.clear();
    const live = fakeLive();
    const room = () => (
      <Room
        api={live.api}
        request={{ interviewId: null, microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    );
    render(room);
    const section = screen.getByTestId("room");
    expect(section.dataset.captionSize).toBe("normal");
    const select = screen.getByTestId("caption-size") as HTMLSelectElement;
    fireEvent.change(select, { target: { value: "larger" } });
    expect(section.dataset.captionSize).toBe("larger");
    expect(section.style.getPropertyValue("--caption-scale")).toBe("1.5");
    cleanup();
    render(room);
    expect(screen.getByTestId("room").dataset.captionSize).toBe("larger");
    expect((screen.getByTestId("caption-size") as HTMLSelectElement).value).toBe("larger");
    globalThis.localStorage?.clear();
  });

  it("shows the question large, partial words greyed, and announces final lines", async () => {
    const live = fakeLive();
    render(() => (
      <Room
        api={live.api}
        request={{ interviewId: null, microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    ));
    await waitFor(() => expect(live.calls).toContain("start text=false"));
    live.push({ type: "state", state: { state: "live" } });
    live.push({ type: "line", line: line("q1", 1, "interviewer", "Why Rust?", true) });
    live.push({ type: "line", line: line("a1", 2, "candidate", "Because it", false) });
    expect(screen.getByTestId("room-question").textContent).toBe("Why Rust?");
    const partial = screen.getAllByTestId("line")[1];
    expect(partial?.dataset.final).toBe("false");
    expect(partial?.className).toContain("partial");
    expect(screen.getByTestId("announcer").textContent).toBe("Interviewer: Why Rust?");
    live.push({ type: "line", line: line("a1", 2, "candidate", "Because it is safe", true) });
    expect(screen.getAllByTestId("line")[1]?.dataset.final).toBe("true");
    expect(screen.getByTestId("announcer").textContent).toBe("You: Because it is safe");
  });

  it("shows reconnect attempts, health details and mutes from the keyboard", async () => {
    const live = fakeLive();
    render(() => (
      <Room
        api={live.api}
        request={{ interviewId: null, microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    ));
    await waitFor(() => expect(live.calls).toContain("start text=false"));
    live.push({
      type: "state",
      state: { state: "reconnecting", attempt: 2, reason: "ICE failed" },
    });
    expect(screen.getByTestId("reconnecting").textContent).toContain("attempt 2");
    live.push({
      type: "health",
      health: {
        at_ms: 5000,
        peer_state: "connected",
        ice_state: "connected",
        dtls_state: "connected",
        data_channel: "open",
        rtt_ms: 42.4,
        downlink_jitter_ms: 3,
        downlink_packets: 250,
        downlink_lost: 5,
        downlink_loss: 0.02,
        uplink_packets: 250,
        uplink_bytes: 20_000,
        uplink_kbps: 31,
        uplink_loss: null,
        mic_dbfs: -30,
        speaker_dbfs: -20,
        since_last_event_ms: 100,
        reconnects: 1,
        voice_api: "live",
        model: "gpt-live-1",
        quality: { level: "fair", reason: "loss" },
      },
    });
    fireEvent.click(screen.getByTestId("health-badge"));
    expect(screen.getByTestId("health-rtt").textContent).toBe("42 ms");
    expect(screen.getByTestId("health-voice-ai").textContent).toBe("GPT-Live · gpt-live-1");
    // No echo state yet (typed answers, or no speakers): nothing is claimed.
    expect(screen.queryByTestId("health-echo")).toBeNull();
    live.push({
      type: "echo",
      echo: { on: true, hearing_speakers: true, delay_ms: 84, speakers_heard: true },
    });
    expect(screen.getByTestId("health-echo").dataset.on).toBe("true");
    expect(screen.getByTestId("health-echo").textContent).toBe(
      "On — your microphone picks up your speakers, and their sound is taken out (echo after 84 ms)",
    );
    fireEvent.keyDown(window, { key: "m", ctrlKey: true });
    await waitFor(() =>
      expect(screen.getByTestId("mute").getAttribute("aria-pressed")).toBe("true"),
    );
    expect(live.calls).toContain("mute true");
  });

  it("words echo cancellation's state", () => {
    expect(
      echoLine({ on: false, hearing_speakers: true, delay_ms: null, speakers_heard: true }),
    ).toBe("Off — you said you use headphones");
    expect(
      echoLine({ on: true, hearing_speakers: false, delay_ms: null, speakers_heard: null }),
    ).toBe("On");
    // Playing, but the delay not found yet: never "echo after 0 ms".
    expect(echoLine({ on: true, hearing_speakers: true, delay_ms: 0, speakers_heard: null })).toBe(
      "On (measuring the echo's delay…)",
    );
    expect(echoLine({ on: true, hearing_speakers: true, delay_ms: 84, speakers_heard: true })).toBe(
      "On — your microphone picks up your speakers, and their sound is taken out (echo after 84 ms)",
    );
  });

  it("ends only after confirmation and hands over the summary", async () => {
    const live = fakeLive();
    let summary: Ended | null | undefined;
    render(() => (
      <Room
        api={live.api}
        request={{ interviewId: null, microphone: null, textOnly: false }}
        onEnded={(view) => {
          summary = view;
        }}
      />
    ));
    await waitFor(() => expect(live.calls).toContain("start text=false"));
    fireEvent.click(screen.getByTestId("end"));
    expect(live.calls).not.toContain("end");
    fireEvent.click(screen.getByTestId("end-cancel"));
    expect(screen.queryByTestId("end-dialog")).toBeNull();
    fireEvent.keyDown(window, { key: "e", ctrlKey: true });
    fireEvent.click(screen.getByTestId("end-confirm"));
    await waitFor(() => expect(summary).toEqual(ended));
  });

  it("switches to typed answers when the microphone is lost", async () => {
    const live = fakeLive();
    render(() => (
      <Room
        api={live.api}
        request={{ interviewId: null, microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    ));
    await waitFor(() => expect(live.calls).toContain("start text=false"));
    live.push({ type: "state", state: { state: "live" } });
    expect(screen.queryByTestId("answer-input")).toBeNull();
    live.push({
      type: "device",
      message: "No microphone can be used: unplugged",
      microphone_lost: true,
    });
    expect(screen.getByTestId("device-notice").textContent).toContain("unplugged");
    const input = screen.getByTestId("answer-input") as HTMLTextAreaElement;
    input.value = "I would profile first";
    fireEvent.click(screen.getByTestId("answer-send"));
    await waitFor(() => expect(live.calls).toContain("answer I would profile first"));
    await waitFor(() => expect(input.value).toBe(""));
  });

  it("takes typed answers, never shows the microphone, when the organisation turned voice off", async () => {
    const live = fakeLive({ mode: "text", because: "organisation" });
    render(() => (
      // The candidate did not ask for text: the backend's grant did.
      <Room
        api={live.api}
        request={{ interviewId: "i1", microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    ));
    await waitFor(() => expect(live.calls).toContain("start text=false"));
    // Says so plainly, and why.
    const notice = await screen.findByTestId("typed-answers");
    expect(notice.dataset.because).toBe("organisation");
    expect(notice.textContent).toContain("This interview takes typed answers.");
    expect(notice.textContent).toContain(
      "Your organisation has turned spoken answers off for now, so your microphone stays off.",
    );
    // No microphone meter, no mute (not even from the keyboard); the interviewer's voice
    // still has its meter.
    expect(screen.queryByTestId("mic-level")).toBeNull();
    expect(screen.queryByTestId("mute")).toBeNull();
    fireEvent.keyDown(window, { key: "m", ctrlKey: true });
    expect(live.calls.some((c) => c.startsWith("mute"))).toBe(false);
    expect(screen.getByTestId("speaker-level")).toBeTruthy();
    // The answer box is the way in: present and focused.
    const input = screen.getByTestId("answer-input") as HTMLTextAreaElement;
    await waitFor(() => expect(document.activeElement).toBe(input));
    // The connection details say how answers are given.
    live.push({ type: "state", state: { state: "live" } });
    live.push({
      type: "health",
      health: {
        at_ms: 1000,
        peer_state: "connected",
        ice_state: "connected",
        dtls_state: "connected",
        data_channel: "open",
        rtt_ms: 2,
        downlink_jitter_ms: 1,
        downlink_packets: 50,
        downlink_lost: 0,
        downlink_loss: 0,
        uplink_packets: 0,
        uplink_bytes: 0,
        uplink_kbps: 0,
        uplink_loss: null,
        mic_dbfs: null,
        speaker_dbfs: -20,
        since_last_event_ms: 100,
        reconnects: 0,
        voice_api: "realtime",
        model: "viva-local",
        quality: { level: "good", reason: null },
      },
    });
    fireEvent.click(screen.getByTestId("health-badge"));
    const answers = screen.getByTestId("health-answers");
    expect(answers.dataset.mode).toBe("text");
    expect(answers.textContent).toContain("spoken answers are off for your organisation");
    // A typed answer goes over the call, sent with Ctrl+Enter from the box.
    live.push({ type: "line", line: line("q1", 1, "interviewer", "Why Rust?", true) });
    input.value = "Because it is safe";
    fireEvent.keyDown(input, { key: "Enter", ctrlKey: true });
    await waitFor(() => expect(live.calls).toContain("answer Because it is safe"));
    await waitFor(() => expect(input.value).toBe(""));
  });

  it("shows the microphone and no typed-answer notice when answers are spoken", async () => {
    const live = fakeLive();
    render(() => (
      <Room
        api={live.api}
        request={{ interviewId: null, microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    ));
    await waitFor(() => expect(screen.queryByTestId("mic-level")).not.toBeNull());
    expect(screen.queryByTestId("typed-answers")).toBeNull();
    expect(screen.queryByTestId("answer-input")).toBeNull();
    expect(screen.getByTestId("mute")).toBeTruthy();
  });

  it("switches to typed answers when a renewed grant turns spoken answers off", async () => {
    const live = fakeLive();
    render(() => (
      <Room
        api={live.api}
        request={{ interviewId: "i1", microphone: null, textOnly: false }}
        onEnded={() => {}}
      />
    ));
    await waitFor(() => expect(screen.queryByTestId("mic-level")).not.toBeNull());
    live.push({ type: "state", state: { state: "live" } });
    live.push({ type: "answering", answering: { mode: "text", because: "organisation" } });
    expect(screen.getByTestId("typed-answers").textContent).toContain(
      "Your organisation has turned spoken answers off for now",
    );
    expect(screen.queryByTestId("mic-level")).toBeNull();
    expect(screen.queryByTestId("mute")).toBeNull();
    const input = screen.getByTestId("answer-input");
    await waitFor(() => expect(document.activeElement).toBe(input));
  });
});
