import { createSignal, For, Show } from "solid-js";
import type { SessionsApi } from "./ipc";

/** The local interviewer's question sets; a hosted backend accepts the same ids. */
export const ROLES = [
  { id: "general_behavioural", label: "General (behavioural)" },
  { id: "software_engineer", label: "Software engineer" },
  { id: "product_manager", label: "Product manager" },
];

/** `2026-11-23T14:30` (a datetime-local value, the user's time) as RFC 3339 with their offset. */
export function localToRfc3339(value: string): string | undefined {
  const at = new Date(value);
  if (value === "" || Number.isNaN(at.getTime())) return undefined;
  const offset = -at.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${value.length === 16 ? `${value}:00` : value}${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** An interviewer schedules an interview for a candidate of their organisation. */
export function Schedule(props: { api: SessionsApi; onScheduled: (id: string) => void }) {
  const [email, setEmail] = createSignal("");
  const [title, setTitle] = createSignal("");
  const [role, setRole] = createSignal(ROLES[0]?.id ?? "general_behavioural");
  const [when, setWhen] = createSignal("");
  const [error, setError] = createSignal<string | undefined>();
  const [busy, setBusy] = createSignal(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const scheduledAt = localToRfc3339(when());
    if (!scheduledAt) {
      setError("Choose a date and time.");
      return;
    }
    setBusy(true);
    const done = await props.api.schedule({
      candidateEmail: email(),
      title: title(),
      questionSet: role(),
      scheduledAt,
    });
    setBusy(false);
    if (!done.ok) {
      setError(done.error.message);
      return;
    }
    setError(undefined);
    setEmail("");
    setTitle("");
    props.onScheduled(done.value);
  };

  return (
    <details class="schedule">
      <summary data-testid="schedule-open">Schedule an interview</summary>
      <form class="filters" onSubmit={submit} data-testid="schedule-form">
        <label>
          Candidate's email
          <input
            type="email"
            required
            value={email()}
            onInput={(e) => setEmail(e.currentTarget.value)}
            data-testid="schedule-email"
          />
        </label>
        <label>
          Title
          <input
            required
            value={title()}
            onInput={(e) => setTitle(e.currentTarget.value)}
            data-testid="schedule-title"
          />
        </label>
        <label>
          Role
          <select value={role()} onChange={(e) => setRole(e.currentTarget.value)}>
            <For each={ROLES}>{(r) => <option value={r.id}>{r.label}</option>}</For>
          </select>
        </label>
        <label>
          When
          <input
            type="datetime-local"
            required
            value={when()}
            onInput={(e) => setWhen(e.currentTarget.value)}
            data-testid="schedule-when"
          />
        </label>
        <button type="submit" disabled={busy()} data-testid="schedule-submit">
          Schedule
        </button>
      </form>
      <Show when={error()}>
        {(message) => (
          <p class="error" role="alert" data-testid="schedule-error">
            {message()}
          </p>
        )}
      </Show>
    </details>
  );
}
