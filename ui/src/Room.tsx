import { createEffect, createSignal, For, on, onCleanup, onMount, Show } from "solid-js";
import type {
  Answering,
  EchoState,
  Ended,
  Health,
  Line,
  LiveApi,
  LiveEvent,
  SessionState,
  StartRequest,
} from "./ipc";
import { LevelMeter } from "./LevelMeter";
import { applyLine, clock, currentQuestion, renumber } from "./transcript";

/** Where the call is, for the banner: a session not yet connecting shows as connecting. */
type Phase = Exclude<SessionState, { state: "idle" }>;

/** The voice API's name as OpenAI publishes it. */
function voiceApiName(api: string): string {
  return api === "live" ? "GPT-Live" : api === "realtime" ? "Realtime" : api;
}

/**
 * Why answers are typed in the room: the session's reason (the organisation's grant, or the
 * candidate's choice), or the microphone going missing during the interview.
 */
export type TypedBecause = Extract<Answering, { mode: "text" }>["because"] | "microphone_lost";

/** Echo cancellation on the microphone, for the connection details. */
export function echoLine(echo: EchoState): string {
  if (!echo.on) return "Off — you said you use headphones";
  const heard =
    echo.speakers_heard === true
      ? " — your microphone picks up your speakers, and their sound is taken out"
      : "";
  // Before the canceller has found the echo's delay it reports none, or 0: no real room
  // brings the speakers back in no time, so 0 is shown as still measuring.
  const delay =
    echo.delay_ms == null || echo.delay_ms === 0
      ? echo.hearing_speakers
        ? " (measuring the echo's delay…)"
        : ""
      : ` (echo after ${echo.delay_ms} ms)`;
  return `On${heard}${delay}`;
}

/** The caption sizes the candidate can choose, as a scale of the room's text. */
export const CAPTION_SIZES = [
  { id: "normal", label: "Normal", scale: 1 },
  { id: "large", label: "Large", scale: 1.25 },
  { id: "larger", label: "Larger", scale: 1.5 },
] as const;
export type CaptionSize = (typeof CAPTION_SIZES)[number]["id"];
const CAPTION_KEY = "viva.captionSize";

/** The caption size chosen last time (a preference, no secret). */
export function rememberedCaptionSize(): CaptionSize {
  try {
    const kept = globalThis.localStorage?.getItem(CAPTION_KEY);
    return CAPTION_SIZES.find((size) => size.id === kept)?.id ?? "normal";
  } catch {
    return "normal";
  }
}

function rememberCaptionSize(size: CaptionSize) {
  try {
    globalThis.localStorage?.setItem(CAPTION_KEY, size);
  } catch {
    // Storage may be unavailable; the choice still holds for this interview.
  }
}

/** How answers are given, for the connection details. */
export function answersLine(typed: TypedBecause | undefined): string {
  switch (typed) {
    case undefined:
      return "Spoken (microphone on)";
    case "organisation":
      return "Typed — spoken answers are off for your organisation; microphone not used";
    case "chosen":
      return "Typed — your choice; microphone not used";
    case "microphone_lost":
      return "Typed — no microphone can be used";
  }
}

/**
 * The interview room: the interviewer's question large, the live transcript (partial words
 * greyed until final), the connection's health, mute, typed answers in text mode (when the
 * candidate chose them, the microphone went missing, or the organisation's backend turned
 * spoken answers off — then the microphone is never opened), and ending with confirmation.
 * Shortcuts: Ctrl+M mute, Ctrl+E end, Ctrl+L the transcript, Ctrl+Enter sends a typed answer.
 */
export function Room(props: {
  api: LiveApi;
  request: StartRequest;
  onEnded: (ended: Ended | null) => void;
}) {
  const [lines, setLines] = createSignal<Line[]>([]);
  const [phase, setPhase] = createSignal<Phase>({ state: "connecting" });
  const [health, setHealth] = createSignal<Health | undefined>();
  const [echo, setEcho] = createSignal<EchoState | undefined>();
  const [showHealth, setShowHealth] = createSignal(false);
  const [micLevel, setMicLevel] = createSignal(-100);
  const [speakerLevel, setSpeakerLevel] = createSignal(-100);
  const [muted, setMuted] = createSignal(false);
  const [captionSize, setCaptionSize] = createSignal<CaptionSize>(rememberedCaptionSize());
  const captionScale = () => CAPTION_SIZES.find((size) => size.id === captionSize())?.scale ?? 1;
  // The clock counts from the moment the call is live, once a second; it stops when it ends.
  const [liveSince, setLiveSince] = createSignal<number | undefined>();
  const [now, setNow] = createSignal(Date.now());
  const ticking = setInterval(() => setNow(Date.now()), 1000);
  onCleanup(() => clearInterval(ticking));
  // How answers are given: "starting" until the session says (neither the microphone's
  // controls nor the answer box yet), then its answer, or typed once the microphone is lost.
  const [answering, setAnswering] = createSignal<"starting" | "voice" | TypedBecause>("starting");
  const typed = () => {
    const now = answering();
    return now === "starting" || now === "voice" ? undefined : now;
  };
  const textOnly = () => typed() !== undefined;
  const voice = () => answering() === "voice";
  const [notices, setNotices] = createSignal<string[]>([]);
  // Device news replace each other, and fade unless the microphone is gone.
  const [deviceNotice, setDeviceNotice] = createSignal<string | undefined>();
  let deviceTimer: ReturnType<typeof setTimeout> | undefined;
  const [error, setError] = createSignal<string | undefined>();
  const [confirmEnd, setConfirmEnd] = createSignal(false);
  const [ending, setEnding] = createSignal(false);
  const [announce, setAnnounce] = createSignal("");
  const [follow, setFollow] = createSignal(true);
  let transcript: HTMLOListElement | undefined;
  let answerField: HTMLTextAreaElement | undefined;
  let answerForm: HTMLFormElement | undefined;
  let endedView: Ended | null = null;

  const notice = (text: string) => setNotices((list) => [...list.slice(-2), text]);

  const scrollToLatest = () => {
    if (transcript && follow()) transcript.scrollTop = transcript.scrollHeight;
  };

  const onEvent = (update: LiveEvent) => {
    switch (update.type) {
      case "state":
        setPhase(update.state.state === "idle" ? { state: "connecting" } : update.state);
        if (update.state.state === "live" && liveSince() === undefined) setLiveSince(Date.now());
        if (update.state.state === "ended" || update.state.state === "failed") {
          clearInterval(ticking);
          setNow(Date.now());
        }
        break;
      case "line": {
        const before = lines().find((l) => l.item_id === update.line.item_id);
        setLines(applyLine(lines(), update.line));
        const final = update.line.status === "final";
        if (final && before?.status !== "final" && update.line.text.trim() !== "") {
          const who = update.line.speaker === "interviewer" ? "Interviewer" : "You";
          setAnnounce(`${who}: ${update.line.text}`);
        }
        queueMicrotask(scrollToLatest);
        break;
      }
      case "renumbered":
        setLines(renumber(lines(), update.item_id, update.seq));
        break;
      case "health":
        setHealth(update.health);
        break;
      case "echo":
        setEcho(update.echo);
        break;
      case "level":
        if (update.direction === "input") setMicLevel(update.level.rms_dbfs ?? -100);
        else setSpeakerLevel(update.level.rms_dbfs ?? -100);
        break;
      case "problem":
        notice(update.message);
        break;
      case "device":
        clearTimeout(deviceTimer);
        setDeviceNotice(update.message);
        if (update.microphone_lost) setAnswering("microphone_lost");
        else deviceTimer = setTimeout(() => setDeviceNotice(undefined), 6000);
        break;
      case "answering":
        // A renewed grant turned spoken answers off: the microphone is already closed.
        if (update.answering.mode === "text") setAnswering(update.answering.because);
        break;
      case "not_saved":
        setError(`A line could not be saved on this computer: ${update.message}`);
        break;
      case "ended":
        endedView = update.ended;
        if (!ending()) {
          // The interviewer (or a failure) ended it: show the summary.
          void props.api.leave();
          props.onEnded(endedView);
        }
        break;
    }
  };

  const end = async () => {
    setConfirmEnd(false);
    setEnding(true);
    const result = await props.api.end();
    if (result.ok) props.onEnded(result.value ?? endedView);
    else props.onEnded(endedView);
  };

  const toggleMute = async () => {
    const next = !muted();
    const result = await props.api.setMuted(next);
    if (result.ok) setMuted(next);
    else setError(result.error.message);
  };

  const sendAnswer = async (event: SubmitEvent) => {
    event.preventDefault();
    const text = answerField?.value ?? "";
    const sent = await props.api.sendAnswer(text);
    if (sent.ok) {
      if (answerField) answerField.value = "";
    } else setError(sent.error.message);
  };

  const shortcuts = (event: KeyboardEvent) => {
    if (!event.ctrlKey || event.altKey || event.metaKey) return;
    const key = event.key.toLowerCase();
    if (key === "m" && voice()) {
      event.preventDefault();
      void toggleMute();
    } else if (key === "e") {
      event.preventDefault();
      setConfirmEnd(true);
    } else if (key === "l") {
      event.preventDefault();
      transcript?.focus();
    } else if (key === "enter" && event.target === answerField) {
      event.preventDefault();
      answerForm?.requestSubmit();
    }
  };

  // Typed answers are the way in: the box takes the keyboard as soon as it appears.
  createEffect(
    on(textOnly, (typing) => {
      if (typing) queueMicrotask(() => answerField?.focus());
    }),
  );

  onMount(async () => {
    window.addEventListener("keydown", shortcuts);
    const started = await props.api.start(props.request, onEvent);
    if (!started.ok) {
      setPhase({ state: "failed", reason: started.error.message });
      if (started.error.code === "no_microphone") setAnswering("microphone_lost");
      return;
    }
    const given = started.value.answering;
    // A microphone lost while starting keeps answers typed.
    if (answering() === "starting") setAnswering(given.mode === "voice" ? "voice" : given.because);
  });
  onCleanup(() => {
    window.removeEventListener("keydown", shortcuts);
    clearTimeout(deviceTimer);
  });

  const question = () => currentQuestion(lines());
  const phaseState = () => phase().state;
  const failure = () => {
    const current = phase();
    return current.state === "failed" ? current.reason : undefined;
  };
  const reconnecting = () => {
    const current = phase();
    return current.state === "reconnecting" ? current : undefined;
  };

  return (
    <section
      class="room"
      aria-labelledby="room-title"
      data-testid="room"
      data-state={phaseState()}
      data-caption-size={captionSize()}
      style={{ "--caption-scale": String(captionScale()) }}
    >
      <h2 id="room-title" class="visually-hidden">
        Interview
      </h2>
      <div class="room-bar">
        <span class="status" data-testid="room-state">
          {phaseState() === "connecting"
            ? "Connecting…"
            : phaseState() === "live"
              ? "Live"
              : phaseState() === "reconnecting"
                ? "Reconnecting…"
                : phaseState() === "failed"
                  ? "Stopped"
                  : "Ended"}
        </span>
        <span class="elapsed" data-testid="room-elapsed" title="Time since the interview began">
          <span class="visually-hidden">Time elapsed: </span>
          {clock(liveSince() === undefined ? 0 : now() - (liveSince() ?? now()))}
        </span>
        <label class="inline caption-size">
          Text size
          <select
            value={captionSize()}
            onChange={(event) => {
              const chosen = event.currentTarget.value as CaptionSize;
              setCaptionSize(chosen);
              rememberCaptionSize(chosen);
            }}
            data-testid="caption-size"
          >
            <For each={CAPTION_SIZES}>
              {(size) => <option value={size.id}>{size.label}</option>}
            </For>
          </select>
        </label>
        <button
          type="button"
          class={`health health-${health()?.quality.level ?? "unknown"}`}
          aria-expanded={showHealth()}
          onClick={() => setShowHealth(!showHealth())}
          data-testid="health-badge"
          data-quality={health()?.quality.level ?? "unknown"}
        >
          Connection: {health()?.quality.level ?? "…"}
        </button>
        <Show when={voice()}>
          <button
            type="button"
            aria-pressed={muted()}
            onClick={toggleMute}
            data-testid="mute"
            title="Ctrl+M"
          >
            {muted() ? "Unmute" : "Mute"}
          </button>
        </Show>
        <button
          type="button"
          class="danger"
          onClick={() => setConfirmEnd(true)}
          disabled={ending()}
          data-testid="end"
          title="Ctrl+E"
        >
          End
        </button>
      </div>
      <Show when={showHealth() && health()}>
        {(shown) => (
          <dl class="health-details" data-testid="health-details">
            <dt>State</dt>
            <dd>
              {shown().peer_state} (ICE {shown().ice_state})
            </dd>
            <dt>Round trip</dt>
            <dd data-testid="health-rtt">
              {shown().rtt_ms == null ? "—" : `${Math.round(shown().rtt_ms ?? 0)} ms`}
            </dd>
            <dt>Jitter</dt>
            <dd>
              {shown().downlink_jitter_ms == null
                ? "—"
                : `${(shown().downlink_jitter_ms ?? 0).toFixed(1)} ms`}
            </dd>
            <dt>Loss</dt>
            <dd>
              {shown().downlink_loss == null
                ? "—"
                : `${((shown().downlink_loss ?? 0) * 100).toFixed(1)} %`}
            </dd>
            <dt>Sending</dt>
            <dd>
              {shown().uplink_kbps == null ? "—" : `${Math.round(shown().uplink_kbps ?? 0)} kbit/s`}
            </dd>
            <dt>Reconnects</dt>
            <dd>{shown().reconnects}</dd>
            <dt>Voice AI</dt>
            <dd data-testid="health-voice-ai">
              {voiceApiName(shown().voice_api)} · {shown().model}
            </dd>
            <dt>Answers</dt>
            <dd data-testid="health-answers" data-mode={textOnly() ? "text" : "voice"}>
              {answersLine(typed())}
            </dd>
            <Show when={echo()}>
              {(current) => (
                <>
                  <dt>Echo cancellation</dt>
                  <dd data-testid="health-echo" data-on={String(current().on)}>
                    {echoLine(current())}
                  </dd>
                </>
              )}
            </Show>
            <Show when={shown().quality.reason}>
              <dt>Why</dt>
              <dd>{shown().quality.reason}</dd>
            </Show>
          </dl>
        )}
      </Show>
      <Show when={reconnecting()}>
        {(current) => (
          <p class="warning" role="status" data-testid="reconnecting">
            Connection lost — reconnecting (attempt {current().attempt}). Your transcript is safe.
          </p>
        )}
      </Show>
      <Show when={failure()}>
        {(reason) => (
          <div class="error" role="alert" data-testid="room-failed">
            <p>{reason()}</p>
            <button type="button" onClick={() => props.onEnded(endedView)} data-testid="room-leave">
              Back
            </button>
          </div>
        )}
      </Show>
      <Show when={error()}>
        {(message) => (
          <p class="error" role="alert" data-testid="room-error">
            {message()}
          </p>
        )}
      </Show>
      <Show when={deviceNotice()}>
        {(text) => (
          <p class="notice" role="status" data-testid="device-notice">
            {text()}
          </p>
        )}
      </Show>
      <For each={notices()}>
        {(text) => (
          <p class="notice" role="status" data-testid="room-notice">
            {text}
          </p>
        )}
      </For>
      <blockquote class="question" data-testid="room-question">
        {question()?.text ??
          (phaseState() === "connecting" ? "Connecting to the interviewer…" : "…")}
      </blockquote>
      <Show when={typed() === "organisation" || typed() === "chosen"}>
        <p class="notice" role="status" data-testid="typed-answers" data-because={typed()}>
          <strong>This interview takes typed answers.</strong>{" "}
          {typed() === "organisation"
            ? "Your organisation has turned spoken answers off for now, so your microphone stays off. "
            : "You chose to type your answers, so your microphone stays off. "}
          The interviewer still speaks and every line appears in the transcript: type each answer in
          the box below and send it.
        </p>
      </Show>
      <div class="levels">
        {/* The microphone's meter only when it is open: in text mode it never is. */}
        <Show when={voice()}>
          <span class="muted">You</span>
          <LevelMeter label="Microphone level" dbfs={micLevel()} testId="mic-level" />
        </Show>
        <span class="muted">Interviewer</span>
        <LevelMeter
          label="Interviewer's voice level"
          dbfs={speakerLevel()}
          testId="speaker-level"
        />
      </div>
      <ol
        class="transcript"
        tabindex="0"
        aria-label="Transcript"
        ref={transcript}
        data-testid="transcript"
        onScroll={(event) => {
          const list = event.currentTarget;
          setFollow(list.scrollHeight - list.scrollTop - list.clientHeight < 40);
        }}
      >
        <For each={lines()}>
          {(line) => (
            <li
              class={`line line-${line.speaker}${line.status === "final" ? "" : " partial"}`}
              data-testid="line"
              data-speaker={line.speaker}
              data-final={line.status === "final" ? "true" : "false"}
            >
              <span class="who">{line.speaker === "interviewer" ? "Interviewer" : "You"}</span>
              <time class="when">{clock(line.started_ms)}</time>
              <span class="words">
                {line.inaudible ? "(inaudible)" : line.text}
                {line.interrupted ? " —" : ""}
              </span>
            </li>
          )}
        </For>
      </ol>
      <Show when={!follow()}>
        <button
          type="button"
          class="link"
          onClick={() => {
            setFollow(true);
            scrollToLatest();
          }}
          data-testid="jump-latest"
        >
          Jump to the latest line
        </button>
      </Show>
      <div class="visually-hidden" aria-live="polite" data-testid="announcer">
        {announce()}
      </div>
      <Show when={textOnly()}>
        <form class="answer" onSubmit={sendAnswer} ref={answerForm}>
          <label>
            Your answer <span class="muted">(Ctrl+Enter sends)</span>
            <textarea
              ref={answerField}
              rows="4"
              placeholder="Type your answer here"
              data-testid="answer-input"
            />
          </label>
          <button
            type="submit"
            class="primary"
            disabled={phaseState() !== "live"}
            data-testid="answer-send"
            title="Ctrl+Enter"
          >
            Send answer
          </button>
        </form>
      </Show>
      <Show when={confirmEnd()}>
        <div
          class="confirm"
          role="alertdialog"
          aria-labelledby="end-title"
          data-testid="end-dialog"
        >
          <p id="end-title">End the interview? You cannot rejoin it.</p>
          <button type="button" class="danger" onClick={end} data-testid="end-confirm" autofocus>
            End interview
          </button>
          <button type="button" onClick={() => setConfirmEnd(false)} data-testid="end-cancel">
            Keep going
          </button>
        </div>
      </Show>
    </section>
  );
}
