import { createResource, Match, Switch } from "solid-js";
import { AboutPanel } from "./AboutPanel";
import { AccountPanel } from "./AccountPanel";
import { accountApi, loadAppInfo } from "./ipc";

export function App() {
  const [info] = createResource(loadAppInfo);

  return (
    <main class="shell">
      <header class="brand">
        <img class="brand-mark" src="/icon.png" alt="" width="40" height="40" />
        <div>
          <h1>Viva</h1>
          <p class="tagline">Live voice interviews with a transcript you can trust.</p>
        </div>
      </header>
      <section class="welcome" aria-labelledby="welcome-title">
        <h2 id="welcome-title">Welcome</h2>
        <p>
          Practise an interview on your own, or join one your organisation scheduled for you. Your
          answers appear as a live transcript, saved on this computer first.
        </p>
      </section>
      <AccountPanel api={accountApi} />
      <Switch>
        <Match when={info.loading}>
          <p class="muted" aria-live="polite">
            Loading…
          </p>
        </Match>
        <Match when={info()}>{(result) => <AboutPanel result={result()} />}</Match>
      </Switch>
    </main>
  );
}
