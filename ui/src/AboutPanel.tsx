import { Match, Show, Switch } from "solid-js";
import { type DiagnosticsApi, SaveDiagnosticsButton } from "./Diagnostics";
import type { AppInfo, Outcome } from "./ipc";

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How many sessions this computer keeps, what still waits to sync, what a crash left. */
export function transcriptsSummary(t: AppInfo["transcripts"]): string {
  const parts = [`${plural(t.sessions, "session", "sessions")} saved on this computer`];
  if (t.waitingLines > 0) {
    parts.push(`${plural(t.waitingLines, "line", "lines")} waiting to sync`);
  }
  if (t.recovered > 0) {
    parts.push(
      `${plural(t.recovered, "interview", "interviews")} interrupted by a crash recovered with every saved line`,
    );
  }
  return parts.join("; ");
}

/** Version, build and where this copy of Viva keeps its files — what a bug report needs. */
export function AboutPanel(props: { result: Outcome<AppInfo>; diagnostics: DiagnosticsApi }) {
  return (
    <section class="about" aria-labelledby="about-title">
      <h2 id="about-title">This copy of Viva</h2>
      <Switch>
        <Match when={props.result.ok ? props.result.value : undefined}>
          {(info) => (
            <dl>
              <dt>Version</dt>
              <dd data-testid="app-version">{info().version}</dd>
              <dt>Build</dt>
              <dd data-testid="app-build">
                {info().build} ({info().profile})
              </dd>
              <dt>Data</dt>
              <dd data-testid="app-data-dir" class="path">
                {info().dataDir}
              </dd>
              <dt>Logs</dt>
              <dd data-testid="app-log-dir" class="path">
                {info().logDir}
              </dd>
              <dt>Transcripts</dt>
              <dd data-testid="app-transcripts">{transcriptsSummary(info().transcripts)}</dd>
            </dl>
          )}
        </Match>
        <Match when={props.result.ok ? undefined : props.result.error}>
          {(error) => (
            <p class="error" role="alert" data-testid="app-error" data-code={error().code}>
              {error().message}
            </p>
          )}
        </Match>
      </Switch>
      <Show when={props.result.ok ? props.result.value.transcripts.problem : undefined}>
        {(problem) => (
          <p class="error" role="alert" data-testid="transcripts-problem">
            {problem()}
          </p>
        )}
      </Show>
      <div class="actions">
        <SaveDiagnosticsButton api={props.diagnostics} />
        <span class="muted">For support: versions, devices, the last call and recent logs.</span>
      </div>
    </section>
  );
}
