import { createSignal, For, onCleanup, onMount, Show } from "solid-js";
import type { Outcome, UpcomingView } from "./ipc";

/** "in 2 h 5 min", "in 45 s", "now" — how long until `at` (ms) from `now` (ms). */
export function countdown(at: number, now: number): string {
  const seconds = Math.round((at - now) / 1000);
  if (seconds <= 0) return "now";
  if (seconds < 60) return `in ${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `in ${hours} h ${minutes % 60} min`;
  return `in ${Math.floor(hours / 24)} days`;
}

/** The interviews scheduled for the signed-in candidate, soonest first, each with Join. */
export function Upcoming(props: {
  load: () => Promise<Outcome<UpcomingView[]>>;
  onJoin: (interview: UpcomingView) => void;
}) {
  const [interviews, setInterviews] = createSignal<UpcomingView[] | undefined>();
  const [error, setError] = createSignal<string | undefined>();
  const [now, setNow] = createSignal(Date.now());
  const tick = setInterval(() => setNow(Date.now()), 1000);
  onCleanup(() => clearInterval(tick));
  onMount(async () => {
    const result = await props.load();
    if (result.ok) setInterviews(result.value);
    else setError(result.error.message);
  });

  return (
    <section class="card upcoming" aria-labelledby="upcoming-title" data-testid="upcoming">
      <h2 id="upcoming-title">Your interviews</h2>
      <Show when={error()}>
        {(message) => (
          <p class="error" role="alert" data-testid="upcoming-error">
            Your interviews could not be loaded: {message()}
          </p>
        )}
      </Show>
      <Show when={interviews()?.length === 0}>
        <p class="muted" data-testid="upcoming-empty">
          Nothing scheduled for you. You can practise any time.
        </p>
      </Show>
      <ul class="upcoming-list">
        <For each={interviews() ?? []}>
          {(interview) => {
            const at = interview.scheduledAt ? Date.parse(interview.scheduledAt) : Number.NaN;
            return (
              <li data-testid="upcoming-interview" data-id={interview.id}>
                <div>
                  <strong>{interview.title}</strong>
                  <Show when={interview.organisation}>
                    {(organisation) => (
                      <span class="muted" data-testid="upcoming-organisation">
                        {" "}
                        with {organisation()}
                      </span>
                    )}
                  </Show>
                  <div class="muted">
                    <Show when={Number.isFinite(at)} fallback="Any time">
                      <time datetime={interview.scheduledAt ?? ""}>
                        {new Date(at).toLocaleString()}
                      </time>{" "}
                      <span data-testid="upcoming-countdown">({countdown(at, now())})</span>
                    </Show>
                  </div>
                </div>
                <button type="button" onClick={() => props.onJoin(interview)} data-testid="join">
                  Join
                </button>
              </li>
            );
          }}
        </For>
      </ul>
    </section>
  );
}
