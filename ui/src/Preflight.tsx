import { createSignal, For, onCleanup, onMount, Show } from "solid-js";
import type { Heard, LiveApi, PreflightView, Progress, StartRequest } from "./ipc";
import { LevelMeter } from "./LevelMeter";

/** What "say something" shows for what the microphone test heard. */
export function heardLine(heard: Heard | undefined): string {
  switch (heard?.state) {
    case undefined:
    case "listening":
      return "Say something — your words appear here when you pause.";
    case "speaking":
      return "Listening…";
    case "transcribing":
      return "Writing out what you said…";
    case "words":
      return heard.text
        ? `“${heard.text}”`
        : "Something was heard, but no words were recognised — speak a little closer or louder.";
    case "model_missing":
      return "Set up offline transcription below to see your words here.";
    case "unavailable":
      return `Your words cannot be shown: ${heard.reason}`;
  }
}

/** The set-up step in words, with its percentage (`null`: started, no step reported yet). */
export function setupLine(step: Progress | null): string {
  const percent = (fraction: number) => `${Math.round(fraction * 100)} %`;
  if (step === null) return "Starting…";
  switch (step.step) {
    case "downloading":
      return `Downloading the model… ${percent(step.fraction ?? 0)}`;
    case "verifying":
      return "Checking the download…";
    case "converting":
      return `Preparing the model… ${percent(step.fraction ?? 0)}`;
    case "done":
      return "Ready";
  }
}

/** How far along set-up is overall (download first, then conversion), 0–1; `undefined` while
 * no step has been reported. */
function setupValue(step: Progress | null | undefined): number | undefined {
  if (!step) return undefined;
  switch (step.step) {
    case "downloading":
      return (step.fraction ?? 0) * 0.8;
    case "verifying":
      return 0.8;
    case "converting":
      return 0.8 + (step.fraction ?? 0) * 0.2;
    case "done":
      return 1;
  }
}

/**
 * Before an interview: pick the microphone and watch it respond, see the words it hears, play a
 * test sound, see whether the backend and the offline transcription model are ready (and set the
 * model up), and choose voice or typed answers.
 */
const HEADPHONES_KEY = "viva.headphones";

/** Whether the candidate said last time that they use headphones (a preference, no secret). */
function rememberedHeadphones(): boolean {
  try {
    return globalThis.localStorage?.getItem(HEADPHONES_KEY) === "true";
  } catch {
    return false;
  }
}

function rememberHeadphones(chosen: boolean) {
  try {
    globalThis.localStorage?.setItem(HEADPHONES_KEY, String(chosen));
  } catch {
    // Storage may be unavailable; the choice still holds for this interview.
  }
}

/** What the speaker test's microphone heard, in words. */
export function pickUpLine(heard: boolean, headphones: boolean): string {
  if (heard && headphones)
    return "Your microphone picks up your speakers. If you are not using headphones, untick “I'm using headphones” so echo cancellation stays on.";
  if (heard) return "Your microphone picks up your speakers — echo cancellation is on.";
  return "Your microphone does not pick up your speakers.";
}

export function Preflight(props: {
  api: LiveApi;
  interviewId: string | null;
  onStart: (request: StartRequest) => void;
  onBack: () => void;
}) {
  const [checks, setChecks] = createSignal<PreflightView | undefined>();
  const [error, setError] = createSignal<string | undefined>();
  const [micError, setMicError] = createSignal<string | undefined>();
  const [microphone, setMicrophone] = createSignal<string | null>(null);
  const [level, setLevel] = createSignal(-100);
  const [textOnly, setTextOnly] = createSignal(false);
  const [headphones, setHeadphones] = createSignal(rememberedHeadphones());
  const [heard, setHeard] = createSignal<Heard | undefined>();
  const [checking, setChecking] = createSignal(false);
  const [agreed, setAgreed] = createSignal(false);

  const testMicrophone = async (id: string | null) => {
    setMicError(undefined);
    setLevel(-100);
    setHeard(undefined);
    const started = await props.api.startMicTest(
      id,
      (update) => setLevel(update.rms_dbfs ?? -100),
      setHeard,
    );
    if (!started.ok) {
      setMicError(started.error.message);
      setTextOnly(true);
    }
  };

  /** Runs every check; `retest` restarts the microphone test (a new model hears words). */
  const check = async (retest: boolean) => {
    setChecking(true);
    const result = await props.api.preflight();
    setChecking(false);
    if (!result.ok) {
      setError(result.error.message);
      return;
    }
    setError(undefined);
    const before = checks();
    setChecks(result.value);
    if (result.value.offline && !result.value.modelReady) {
      // Nothing could transcribe spoken answers: practice goes on in text.
      setTextOnly(true);
    } else if (before?.offline && !before.modelReady && result.value.modelReady) {
      // Text was only forced by the missing model.
      setTextOnly(micError() !== undefined);
    }
    if (result.value.microphones.length === 0) {
      setMicError("No microphone was found. You can answer in text instead.");
      setTextOnly(true);
      return;
    }
    if (retest) await testMicrophone(microphone());
  };

  onMount(() => check(true));
  onCleanup(() => {
    void props.api.stopMicTest();
  });

  const backendLine = () => {
    const backend = checks()?.backend;
    if (!backend || checking()) return "Checking…";
    if (backend.state === "ready") return "Ready";
    if (backend.state === "signed_out") return "Not signed in — sign in again first";
    return `Cannot reach the server: ${backend.message}. Check your connection, then try again.`;
  };

  // `null`: set-up has started and no step has been reported yet.
  const [setup, setSetup] = createSignal<Progress | null | undefined>();
  const [setupError, setSetupError] = createSignal<string | undefined>();
  const setUpModel = async () => {
    setSetupError(undefined);
    setSetup(null);
    const done = await props.api.setUpModel(setSetup);
    if (!done.ok) {
      setSetup(undefined);
      setSetupError(done.error.message);
      return;
    }
    setSetup({ step: "done" });
    await check(true);
  };

  const [tone, setTone] = createSignal<"idle" | "playing" | "played" | string>("idle");
  const [toneLevel, setToneLevel] = createSignal(-100);
  const [toneHeard, setToneHeard] = createSignal<boolean | null>(null);
  const playTone = async () => {
    setTone("playing");
    setToneHeard(null);
    const played = await props.api.playTestTone(textOnly() ? null : microphone(), (update) =>
      setToneLevel(update.rms_dbfs ?? -100),
    );
    setToneLevel(-100);
    if (!played.ok) setTone(played.error.message);
    else {
      setToneHeard(played.value.microphoneHeard ?? null);
      setTone(played.value.played ? "played" : "No sound reached the speakers.");
    }
  };
  const chooseHeadphones = (chosen: boolean) => {
    setHeadphones(chosen);
    rememberHeadphones(chosen);
  };
  const modelMissingOffline = () => checks()?.offline === true && checks()?.modelReady === false;

  const notice = () => checks()?.recordingNotice ?? null;
  /** Start waits for the checks, a reachable backend and, when the transcript leaves this
   * computer, the candidate's agreement to the notice. */
  const canStart = () =>
    checks() !== undefined &&
    checks()?.backend.state === "ready" &&
    (notice() === null || agreed());

  const start = async () => {
    if (!canStart()) return;
    await props.api.stopMicTest();
    props.onStart({
      interviewId: props.interviewId,
      microphone: textOnly() ? null : microphone(),
      textOnly: textOnly(),
      headphones: headphones(),
      consent: agreed() ? (notice()?.version ?? null) : null,
    });
  };

  return (
    <section class="card preflight" aria-labelledby="preflight-title" data-testid="preflight">
      <h2 id="preflight-title">Before you start</h2>
      <Show when={error()}>
        {(message) => (
          <p class="error" role="alert" data-testid="preflight-error">
            {message()}
          </p>
        )}
      </Show>
      <Show when={checks()?.soundProblem}>
        {(problem) => (
          <p class="warning" role="status">
            {problem()}
          </p>
        )}
      </Show>
      <label>
        Microphone
        <select
          data-testid="mic-select"
          disabled={(checks()?.microphones.length ?? 0) === 0}
          onChange={(event) => {
            const id = event.currentTarget.value || null;
            setMicrophone(id);
            setTextOnly(false);
            void testMicrophone(id);
          }}
        >
          <option value="">System default</option>
          <For each={checks()?.microphones ?? []}>
            {(mic) => (
              <option value={mic.id}>
                {mic.name}
                {mic.is_default ? " (default)" : ""}
              </option>
            )}
          </For>
        </select>
      </label>
      <div class="meter-row">
        <span class="muted">Say something — the bar should move</span>
        <LevelMeter label="Microphone level" dbfs={level()} testId="preflight-level" />
      </div>
      <Show when={micError() === undefined}>
        <p class="heard" aria-live="polite" data-testid="heard" data-state={heard()?.state ?? ""}>
          {heardLine(heard())}
        </p>
      </Show>
      <Show when={micError()}>
        {(message) => (
          <p class="warning" role="status" data-testid="mic-problem">
            {message()}
          </p>
        )}
      </Show>
      <div class="meter-row">
        <button
          type="button"
          onClick={playTone}
          disabled={tone() === "playing"}
          data-testid="tone-play"
        >
          Play a test sound
        </button>
        <LevelMeter label="Speaker level" dbfs={toneLevel()} testId="tone-level" />
      </div>
      <Show when={tone() === "played"}>
        <p class="muted" role="status" data-testid="tone-result">
          Did you hear a short tone? If not, check your speakers or headphones.
        </p>
        <Show when={toneHeard() !== null}>
          <p
            class={toneHeard() && headphones() ? "warning" : "muted"}
            role="status"
            data-testid="tone-heard"
            data-heard={String(toneHeard())}
          >
            {pickUpLine(toneHeard() === true, headphones())}
          </p>
        </Show>
      </Show>
      <Show when={!["idle", "playing", "played"].includes(tone())}>
        <p class="warning" role="status" data-testid="tone-result">
          {tone()}
        </p>
      </Show>
      <label class="inline">
        <input
          type="checkbox"
          checked={headphones()}
          onChange={(event) => chooseHeadphones(event.currentTarget.checked)}
          data-testid="headphones"
        />
        I'm using headphones
      </label>
      <p class="muted" data-testid="echo-help">
        {headphones()
          ? "Echo cancellation is off: with headphones the interviewer cannot hear itself."
          : "Echo cancellation is on: the interviewer's voice from your speakers is taken out of your microphone, so it never hears itself."}
      </p>
      <Show when={modelMissingOffline()}>
        <p class="warning" role="status" data-testid="model-missing">
          Offline transcription is not set up on this computer, so this practice runs in text: you
          read the questions and type your answers.
        </p>
      </Show>
      <dl class="checks">
        <dt>Backend</dt>
        <dd data-testid="check-backend" data-state={checks()?.backend.state ?? ""}>
          {backendLine()}
          <Show when={checks()?.backend.state === "unreachable"}>
            {" "}
            <button
              type="button"
              onClick={() => check(false)}
              disabled={checking()}
              data-testid="backend-retry"
            >
              Try again
            </button>
          </Show>
        </dd>
        <dt>Offline transcription</dt>
        <dd data-testid="check-model" data-ready={String(checks()?.modelReady ?? false)}>
          {checks() === undefined
            ? "Checking…"
            : checks()?.modelReady
              ? "Ready"
              : "Not set up — spoken answers in offline practice need it (about 70 MB, downloaded once)."}
          <Show when={checks()?.modelReady === false && setup() === undefined}>
            {" "}
            <button type="button" onClick={setUpModel} data-testid="model-setup">
              Set up offline transcription
            </button>
          </Show>
          <Show when={setup() !== undefined}>
            <span class="setup">
              {/* Without a value the bar is indeterminate: set-up has not reported a step yet. */}
              <Show
                when={setupValue(setup()) !== undefined}
                fallback={
                  <progress
                    aria-label="Offline transcription set-up"
                    data-testid="model-progress"
                  />
                }
              >
                <progress
                  max="1"
                  value={setupValue(setup()) ?? 0}
                  aria-label="Offline transcription set-up"
                  data-testid="model-progress"
                />
              </Show>
              <span role="status" data-testid="model-progress-text">
                {setupLine(setup() ?? null)}
              </span>
            </span>
          </Show>
          <Show when={setupError()}>
            {(message) => (
              <span class="error" role="alert" data-testid="model-setup-error">
                {message()}
              </span>
            )}
          </Show>
        </dd>
      </dl>
      <label class="inline">
        <input
          type="checkbox"
          checked={textOnly()}
          disabled={modelMissingOffline()}
          onChange={(event) => setTextOnly(event.currentTarget.checked)}
          data-testid="text-mode"
        />
        Answer in text instead of speaking
      </label>
      <Show when={notice()}>
        {(shown) => (
          <section class="consent" aria-labelledby="consent-title" data-testid="consent">
            <h3 id="consent-title">What is recorded, and who can read it</h3>
            <dl>
              <dt>Recorded</dt>
              <dd data-testid="consent-recorded">{shown().recorded}</dd>
              <dt>Who can read it</dt>
              <dd data-testid="consent-readers">{shown().readers}</dd>
              <dt>Where it is kept</dt>
              <dd data-testid="consent-kept">{shown().kept}</dd>
            </dl>
            <label class="inline">
              <input
                type="checkbox"
                checked={agreed()}
                onChange={(event) => setAgreed(event.currentTarget.checked)}
                data-testid="consent-agree"
              />
              I have read this and agree to this interview being transcribed
            </label>
          </section>
        )}
      </Show>
      <div class="actions">
        <button
          type="button"
          class="primary"
          onClick={start}
          disabled={!canStart()}
          aria-describedby={notice() !== null && !agreed() ? "consent-title" : undefined}
          data-testid="start-interview"
        >
          {props.interviewId ? "Join interview" : "Start practice"}
        </button>
        <button type="button" class="link" onClick={props.onBack} data-testid="preflight-back">
          Back
        </button>
      </div>
    </section>
  );
}
