import { createSignal, onMount, Show } from "solid-js";
import type { Outcome } from "./ipc";

/** What saving diagnostics needs from the core; tests pass their own. */
export interface DiagnosticsApi {
  /** Asks where to save (the system's dialog) and writes the archive: its path, `null` if cancelled. */
  save(): Promise<Outcome<string | null>>;
  /** Calls `listener` each time Help → Save Diagnostics… is chosen in the menu. */
  watchMenu(listener: () => void): void;
}

type Notice = { state: "saving" | "saved" | "failed"; text: string };

/** One notice for the whole app: the menu and the About panel's button share it. */
const [notice, setNotice] = createSignal<Notice | null>(null);

/** Saves diagnostics and says how it went; cancelling the dialog says nothing. */
export async function saveDiagnostics(api: DiagnosticsApi): Promise<void> {
  setNotice({ state: "saving", text: "Saving diagnostics…" });
  const saved = await api.save();
  if (!saved.ok) {
    setNotice({ state: "failed", text: saved.error.message });
  } else if (saved.value === null) {
    setNotice(null);
  } else {
    setNotice({
      state: "saved",
      text: `Diagnostics saved to ${saved.value}. Send this file to support: it holds no tokens, no e-mail addresses and none of your interviews' words.`,
    });
  }
}

/** Where Help → Save Diagnostics… answers, on whatever screen is showing. */
export function DiagnosticsNotice(props: { api: DiagnosticsApi }) {
  onMount(() => props.api.watchMenu(() => void saveDiagnostics(props.api)));
  return (
    <Show when={notice()}>
      {(shown) => (
        <div
          class={shown().state === "failed" ? "warning" : "notice"}
          role={shown().state === "failed" ? "alert" : "status"}
          data-testid="diagnostics-notice"
          data-state={shown().state}
        >
          <span class="path">{shown().text}</span>{" "}
          <Show when={shown().state !== "saving"}>
            <button
              type="button"
              class="link"
              onClick={() => setNotice(null)}
              data-testid="diagnostics-dismiss"
            >
              Dismiss
            </button>
          </Show>
        </div>
      )}
    </Show>
  );
}

/** The same as the menu's Help → Save Diagnostics…, where a bug report is written. */
export function SaveDiagnosticsButton(props: { api: DiagnosticsApi }) {
  return (
    <button
      type="button"
      onClick={() => void saveDiagnostics(props.api)}
      disabled={notice()?.state === "saving"}
      data-testid="save-diagnostics"
    >
      Save diagnostics…
    </button>
  );
}
