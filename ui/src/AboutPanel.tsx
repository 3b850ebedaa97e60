import { Match, Switch } from "solid-js";
import type { AppInfo } from "./bindings";
import type { Outcome } from "./ipc";

/** Version, build and where this copy of Viva keeps its files — what a bug report needs. */
export function AboutPanel(props: { result: Outcome<AppInfo> }) {
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
    </section>
  );
}
