import { createSignal, For, onCleanup, onMount, Show } from "solid-js";
import type { LiveApi, PreflightView, StartRequest } from "./ipc";
import { LevelMeter } from "./LevelMeter";

/**
 * Before an interview: pick the microphone and watch it respond, see whether the backend and the
 * offline transcription model are ready, and choose voice or typed answers.
 */
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

  const testMicrophone = async (id: string | null) => {
    setMicError(undefined);
    setLevel(-100);
    const started = await props.api.startMicTest(id, (update) => {
      if (update.microphone) setLevel(update.rmsDbfs ?? -100);
    });
    if (!started.ok) {
      setMicError(started.error.message);
      setTextOnly(true);
    }
  };

  onMount(async () => {
    const result = await props.api.preflight();
    if (!result.ok) {
      setError(result.error.message);
      return;
    }
    setChecks(result.value);
    if (result.value.offline && !result.value.modelReady) {
      // Nothing could transcribe spoken answers: practice goes on in text.
      setTextOnly(true);
    }
    if (result.value.microphones.length === 0) {
      setMicError("No microphone was found. You can answer in text instead.");
      setTextOnly(true);
      return;
    }
    await testMicrophone(null);
  });
  onCleanup(() => {
    void props.api.stopMicTest();
  });

  const backendLine = () => {
    const backend = checks()?.backend;
    if (!backend) return "Checking…";
    if (backend.state === "ready") return "Ready";
    if (backend.state === "signed_out") return "Not signed in — sign in again first";
    return `Unreachable: ${backend.message}. Check your connection and try again.`;
  };

  const [tone, setTone] = createSignal<"idle" | "playing" | "played" | string>("idle");
  const [toneLevel, setToneLevel] = createSignal(-100);
  const playTone = async () => {
    setTone("playing");
    const played = await props.api.playTestTone((update) => setToneLevel(update.rmsDbfs ?? -100));
    setToneLevel(-100);
    if (!played.ok) setTone(played.error.message);
    else setTone(played.value ? "played" : "No sound reached the speakers.");
  };
  const modelMissingOffline = () => checks()?.offline === true && checks()?.modelReady === false;

  const start = async () => {
    await props.api.stopMicTest();
    props.onStart({
      interviewId: props.interviewId,
      microphone: textOnly() ? null : microphone(),
      textOnly: textOnly(),
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
                {mic.isDefault ? " (default)" : ""}
              </option>
            )}
          </For>
        </select>
      </label>
      <div class="meter-row">
        <span class="muted">Say something — the bar should move</span>
        <LevelMeter label="Microphone level" dbfs={level()} testId="preflight-level" />
      </div>
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
      </Show>
      <Show when={!["idle", "playing", "played"].includes(tone())}>
        <p class="warning" role="status" data-testid="tone-result">
          {tone()}
        </p>
      </Show>
      <Show when={modelMissingOffline()}>
        <p class="warning" role="status" data-testid="model-missing">
          Offline transcription is not set up on this computer, so this practice runs in text: you
          read the questions and type your answers.
        </p>
      </Show>
      <dl class="checks">
        <dt>Backend</dt>
        <dd data-testid="check-backend">{backendLine()}</dd>
        <dt>Offline transcription</dt>
        <dd data-testid="check-model">
          {checks() === undefined
            ? "Checking…"
            : checks()?.modelReady
              ? "Ready"
              : "Not set up — offline practice will work in text only. Run `cargo xtask setup` to install the model."}
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
      <div class="actions">
        <button
          type="button"
          onClick={start}
          disabled={checks() === undefined || checks()?.backend.state !== "ready"}
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
