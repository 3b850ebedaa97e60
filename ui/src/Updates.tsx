import { createEffect, createSignal, on, onMount, Show } from "solid-js";
import type { UpdateChannel, UpdateCheckView, UpdatesApi } from "./ipc";

type Available = Extract<UpdateCheckView, { state: "available" }>;

type Phase =
  | { kind: "idle" }
  | { kind: "checking" }
  | { kind: "up_to_date"; current: string }
  | { kind: "available" }
  | { kind: "downloading" }
  | { kind: "verified" }
  | { kind: "deferred" }
  | { kind: "not_set_up" };

const MB = 1024 * 1024;

/** Bytes as people read them: `1.4 MB`. */
export function megabytes(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

/**
 * Updates: checked at launch (the core keeps to at most every six hours) and when asked (the
 * menu's "Check for Updates…", or the button); a newer version shows its notes, downloads with
 * a progress bar, is verified against Viva's release key, and installs with a restart — after
 * the interview when one is under way. Mounted once for the whole window: `compact` (every
 * screen but home) shows it only while there is something to act on; `live` is true while an
 * interview is under way, and its end carries out an install that was waiting for it.
 */
export function Updates(props: { api: UpdatesApi; live?: boolean; compact?: boolean }) {
  const [phase, setPhase] = createSignal<Phase>({ kind: "idle" });
  const [found, setFound] = createSignal<Available | undefined>();
  const [error, setError] = createSignal<string | undefined>();
  const [progress, setProgress] = createSignal<{ done: number; total: number | undefined }>();
  const [channel, setChannel] = createSignal<UpdateChannel>("stable");
  // Asked from the menu: shown on any screen until dismissed.
  const [asked, setAsked] = createSignal(false);
  let section: HTMLElement | undefined;

  const check = async (manual: boolean) => {
    setError(undefined);
    setPhase({ kind: "checking" });
    setProgress(undefined);
    const result = await props.api.check(manual);
    if (!result.ok) {
      setPhase({ kind: "idle" });
      setError(result.error.message);
      return;
    }
    const view = result.value;
    if (view.state === "available") {
      setFound(view);
      setPhase({ kind: "available" });
    } else if (view.state === "up_to_date") {
      setFound(undefined);
      setPhase({ kind: "up_to_date", current: view.current });
    } else if (view.state === "not_set_up") {
      setFound(undefined);
      setPhase({ kind: "not_set_up" });
    } else setPhase({ kind: "idle" });
  };

  const download = async () => {
    setError(undefined);
    setPhase({ kind: "downloading" });
    setProgress({ done: 0, total: undefined });
    const result = await props.api.download((p) =>
      setProgress({ done: p.downloaded ?? 0, total: p.total ?? undefined }),
    );
    if (result.ok) setPhase({ kind: "verified" });
    else {
      setPhase({ kind: "available" });
      setError(result.error.message);
    }
  };

  const install = async () => {
    setError(undefined);
    const result = await props.api.install();
    if (!result.ok) {
      setPhase({ kind: "verified" });
      setError(result.error.message);
    } else if (result.value.state === "deferred") setPhase({ kind: "deferred" });
  };

  // The interview that held the install back has ended: install now.
  createEffect(
    on(
      () => props.live ?? false,
      (live, wasLive) => {
        if (wasLive && !live && phase().kind === "deferred") void install();
      },
    ),
  );

  const choose = async (chosen: UpdateChannel) => {
    const result = await props.api.setChannel(chosen);
    if (result.ok) {
      setChannel(result.value);
      await check(true);
    } else setError(result.error.message);
  };

  onMount(async () => {
    props.api.watchMenu(() => {
      setAsked(true);
      // Asked from the menu, the answer must be where the user looks, not below the fold.
      section?.scrollIntoView?.({ block: "nearest" });
      void check(true);
    });
    setChannel(await props.api.channel());
    await check(false);
  });

  const shown = () => {
    if (!props.compact || asked()) return true;
    const kind = phase().kind;
    return kind === "downloading" || kind === "verified" || kind === "deferred";
  };

  const status = (): string => {
    const current = phase();
    const update = found();
    switch (current.kind) {
      case "checking":
        return "Checking for updates…";
      case "up_to_date":
        return `Viva ${current.current} is up to date.`;
      case "available":
        return update ? `Viva ${update.version} is available (you have ${update.current}).` : "";
      case "downloading":
        return update ? `Downloading Viva ${update.version}…` : "Downloading…";
      case "verified":
        return update ? `Viva ${update.version} is downloaded and verified.` : "";
      case "deferred":
        return "The update installs when your interview ends.";
      case "not_set_up":
        return "Updates are not set up for this build: it was not built with a release key, so it cannot verify one. Get Viva from your organisation's release page to receive updates.";
      default:
        return "";
    }
  };

  return (
    <Show when={shown()}>
      <section
        ref={section}
        class="updates"
        classList={{ compact: props.compact ?? false }}
        aria-labelledby="updates-title"
        data-testid="updates"
      >
        <h2 id="updates-title">Updates</h2>
        <p aria-live="polite" data-testid="update-status">
          {status()}
        </p>
        <Show when={found()}>
          {(update) => (
            <>
              <Show when={update().notes.trim() !== ""}>
                <pre class="notes" data-testid="update-notes">
                  {update().notes}
                </pre>
              </Show>
              <Show when={update().install === "package_manager"}>
                <p class="muted">
                  Viva was installed from a .deb package: update it with your package manager.
                </p>
              </Show>
            </>
          )}
        </Show>
        <Show when={progress()}>
          {(shown) => (
            <p>
              <progress
                value={shown().done}
                max={shown().total ?? undefined}
                data-testid="update-progress"
                aria-label="Download progress"
              />{" "}
              <span class="muted">
                {megabytes(shown().done)}
                {shown().total ? ` of ${megabytes(shown().total ?? 0)}` : ""}
              </span>
            </p>
          )}
        </Show>
        <Show when={error()}>
          {(message) => (
            <p class="error" role="alert" data-testid="update-error">
              {message()}
            </p>
          )}
        </Show>
        <div class="actions">
          <Show when={phase().kind === "available" && found()?.install !== "package_manager"}>
            <button type="button" onClick={download} data-testid="update-download">
              Download and verify
            </button>
          </Show>
          <Show when={phase().kind === "verified"}>
            <button type="button" class="primary" onClick={install} data-testid="update-install">
              {props.live ? "Install when the interview ends" : "Install and restart"}
            </button>
          </Show>
          <button
            type="button"
            onClick={() => check(true)}
            disabled={phase().kind === "checking" || phase().kind === "downloading"}
            data-testid="update-check"
          >
            Check for updates
          </button>
          <Show when={!props.compact}>
            <label class="inline">
              Channel
              <select
                value={channel()}
                onChange={(event) => choose(event.currentTarget.value as UpdateChannel)}
                data-testid="update-channel"
              >
                <option value="stable">Stable</option>
                <option value="beta">Beta</option>
              </select>
            </label>
          </Show>
          <Show when={props.compact && asked()}>
            <button
              type="button"
              class="secondary"
              onClick={() => setAsked(false)}
              data-testid="update-dismiss"
            >
              Close
            </button>
          </Show>
        </div>
      </section>
    </Show>
  );
}
