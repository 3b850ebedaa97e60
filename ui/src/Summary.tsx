import { Show } from "solid-js";
import type { Ended, EndedSync } from "./ipc";
import { clock } from "./transcript";

function syncLine(sync: EndedSync): string {
  // No `state`: the store could not say how far the lines got.
  if (!("state" in sync)) return "Saved on this computer";
  switch (sync.state) {
    case "synced":
      return "Saved on this computer and uploaded";
    case "pending":
      return `Saved on this computer; ${sync.lines} lines are uploading`;
    case "failing":
      return `Saved on this computer; upload will retry (${sync.reason})`;
    case "local_only":
      return "Saved on this computer only (offline practice)";
    default:
      return "Saved on this computer";
  }
}

/** After an interview: how long, how many lines, where they are, and what it cost. */
export function Summary(props: {
  ended: Ended | null;
  onDone: () => void;
  onReview: (sessionId: string) => void;
}) {
  return (
    <section class="card summary" aria-labelledby="summary-title" data-testid="summary">
      <h2 id="summary-title">Interview over</h2>
      <Show
        when={props.ended}
        fallback={<p>The interview ended. Its transcript is saved on this computer.</p>}
      >
        {(ended) => (
          <dl class="checks">
            <dt>Status</dt>
            <dd data-testid="summary-status">{ended().status}</dd>
            <dt>Duration</dt>
            <dd data-testid="summary-duration">{clock(ended().summary?.duration_ms ?? 0)}</dd>
            <dt>Lines</dt>
            <dd data-testid="summary-lines">
              {ended().summary?.lines ?? 0} ({ended().summary?.candidate_lines ?? 0} yours,{" "}
              {ended().summary?.interviewer_lines ?? 0} the interviewer's)
            </dd>
            <dt>Transcript</dt>
            <dd data-testid="summary-sync">{syncLine(ended().sync)}</dd>
            <Show when={ended().unsaved > 0}>
              <dt>Not saved</dt>
              <dd class="error">{ended().unsaved} changes could not be saved</dd>
            </Show>
            <dt>Cost</dt>
            <dd data-testid="summary-cost">
              {ended().summary?.cost_usd == null
                ? (ended().summary?.cost_note ?? "not known")
                : `$${(ended().summary?.cost_usd ?? 0).toFixed(4)}`}
            </dd>
          </dl>
        )}
      </Show>
      <div class="actions">
        <Show when={props.ended}>
          {(ended) => (
            <button
              type="button"
              class="primary"
              onClick={() => props.onReview(ended().session_id)}
              data-testid="summary-review"
            >
              Open in review
            </button>
          )}
        </Show>
        <button type="button" class="link" onClick={props.onDone} data-testid="summary-done">
          Back to start
        </button>
      </div>
    </section>
  );
}
