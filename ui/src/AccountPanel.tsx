import { createSignal, Match, onMount, Show, Switch } from "solid-js";
import type { AccountApi, AuthState, BackendStatus } from "./ipc";

type Mode = "sign_in" | "sign_up";

/**
 * The organisation account: which backend, and signing in, up and out. Errors show inline next
 * to the form that caused them; the password field is cleared after every attempt.
 */
export function AccountPanel(props: {
  api: AccountApi;
  /** Told whenever who is signed in (or practising offline) changes. */
  onAuth?: (auth: AuthState) => void;
}) {
  const [status, setStatus] = createSignal<BackendStatus | undefined>();
  const [auth, setAuthSignal] = createSignal<AuthState | undefined>();
  const setAuth = (view: AuthState) => {
    setAuthSignal(view);
    props.onAuth?.(view);
  };
  const [editingBackend, setEditingBackend] = createSignal(false);
  const [mode, setMode] = createSignal<Mode>("sign_in");
  const [error, setError] = createSignal<{ code: string; message: string } | undefined>();
  const [notice, setNotice] = createSignal<string | undefined>();
  const [busy, setBusy] = createSignal(false);

  const refresh = async () => {
    const backend = await props.api.backendStatus();
    if (!backend.ok) {
      setError(backend.error);
      return;
    }
    setStatus(backend.value);
    if (backend.value.configured || backend.value.offline) {
      const user = await props.api.currentUser();
      if (user.ok) setAuth(user.value);
      else setError(user.error);
    }
  };
  onMount(refresh);

  const saveBackend = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(undefined);
    const saved = await props.api.setBackend(
      String(form.get("url") ?? ""),
      String(form.get("anonKey") ?? ""),
    );
    setBusy(false);
    if (!saved.ok) {
      setError(saved.error);
      return;
    }
    setEditingBackend(false);
    setStatus(saved.value);
    await refresh();
  };

  const submitAuth = async (event: SubmitEvent) => {
    event.preventDefault();
    const formElement = event.currentTarget as HTMLFormElement;
    const form = new FormData(formElement);
    const email = String(form.get("email") ?? "");
    const password = String(form.get("password") ?? "");
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    if (mode() === "sign_in") {
      const result = await props.api.signIn(email, password);
      if (result.ok) setAuth(result.value);
      else setError(result.error);
    } else {
      const result = await props.api.signUp(String(form.get("name") ?? ""), email, password);
      if (!result.ok) setError(result.error);
      else if (result.value.outcome === "signed_in") setAuth(result.value.auth);
      else {
        setNotice(`Check ${result.value.email} for a link to confirm your address, then sign in.`);
        setMode("sign_in");
      }
    }
    setBusy(false);
    const passwordField = formElement.elements.namedItem("password");
    if (passwordField instanceof HTMLInputElement) passwordField.value = "";
  };

  const signOut = async () => {
    setBusy(true);
    const result = await props.api.signOut();
    setBusy(false);
    if (result.ok) {
      setAuth(result.value);
      await refresh();
    } else setError(result.error);
  };

  const practiceOffline = async () => {
    setBusy(true);
    setError(undefined);
    const result = await props.api.practiceOffline();
    setBusy(false);
    if (!result.ok) {
      setError(result.error);
      return;
    }
    setAuth(result.value);
    await refresh();
  };

  const signedIn = () => {
    const view = auth();
    return view?.state === "signed_in" ? view : undefined;
  };
  const signedOutReason = () => {
    const view = auth();
    return view?.state === "signed_out" ? (view.reason ?? undefined) : undefined;
  };

  const errorLine = () => (
    <Show when={error()}>
      {(shown) => (
        <p class="error" role="alert" data-testid="account-error" data-code={shown().code}>
          {shown().message}
        </p>
      )}
    </Show>
  );

  return (
    <section class="account" aria-labelledby="account-title">
      <h2 id="account-title">Your organisation</h2>
      <Show when={status()?.keyring?.available === false}>
        <p class="warning" role="status" data-testid="keyring-warning">
          {status()?.keyring?.message}
        </p>
      </Show>
      <Switch>
        <Match when={status() === undefined && !error()}>
          <p class="muted">Loading…</p>
        </Match>
        <Match when={status()?.offline && signedIn()}>
          <div class="signed-in" data-testid="offline-banner">
            <p>
              Practising offline on this computer — no account, nothing leaves it. Transcripts of
              practice runs stay here.
            </p>
            {errorLine()}
            <button type="button" onClick={signOut} disabled={busy()} data-testid="leave-offline">
              Stop practising offline
            </button>
          </div>
        </Match>
        <Match when={!status()?.configured || editingBackend()}>
          <form class="form" data-testid="backend-form" onSubmit={saveBackend}>
            <p class="muted">
              Enter the address and anon key your organisation gave you. Practice needs neither.
            </p>
            <label>
              Backend address
              <input
                name="url"
                type="url"
                required
                placeholder="https://your-project.supabase.co"
                value={status()?.url ?? ""}
                data-testid="backend-url"
              />
            </label>
            <label>
              Anon key
              <input
                name="anonKey"
                required
                value={status()?.anonKey ?? ""}
                data-testid="backend-anon-key"
              />
            </label>
            {errorLine()}
            <button type="submit" class="primary" disabled={busy()} data-testid="backend-save">
              Save
            </button>
            <button
              type="button"
              class="link"
              disabled={busy()}
              onClick={practiceOffline}
              data-testid="practice-offline"
            >
              No organisation? Practise offline — no account needed
            </button>
          </form>
        </Match>
        <Match when={signedIn()}>
          {(user) => (
            <div class="signed-in">
              <p>
                Signed in as <strong data-testid="signed-in-email">{user().email}</strong>
                <Show when={user().role}>{(role) => <span class="muted"> ({role()})</span>}</Show>
              </p>
              {errorLine()}
              <button type="button" onClick={signOut} disabled={busy()} data-testid="sign-out">
                Sign out
              </button>
            </div>
          )}
        </Match>
        <Match when={auth()}>
          <form class="form" data-testid="auth-form" data-mode={mode()} onSubmit={submitAuth}>
            <Show when={signedOutReason()}>
              {(reason) => (
                <p class="warning" role="status" data-testid="signed-out-reason">
                  {reason()}
                </p>
              )}
            </Show>
            <Show when={notice()}>
              {(text) => (
                <p class="notice" role="status" data-testid="auth-notice">
                  {text()}
                </p>
              )}
            </Show>
            <Show when={mode() === "sign_up"}>
              <label>
                Your name
                <input name="name" autocomplete="name" data-testid="auth-name" />
              </label>
            </Show>
            <label>
              Email
              <input
                name="email"
                type="email"
                required
                autocomplete="username"
                data-testid="auth-email"
              />
            </label>
            <label>
              Password
              <input
                name="password"
                type="password"
                required
                autocomplete={mode() === "sign_in" ? "current-password" : "new-password"}
                data-testid="auth-password"
              />
            </label>
            {errorLine()}
            <button type="submit" class="primary" disabled={busy()} data-testid="auth-submit">
              {mode() === "sign_in" ? "Sign in" : "Create account"}
            </button>
            <button
              type="button"
              class="link"
              data-testid="auth-switch"
              onClick={() => {
                setError(undefined);
                setMode(mode() === "sign_in" ? "sign_up" : "sign_in");
              }}
            >
              {mode() === "sign_in" ? "New here? Create an account" : "Have an account? Sign in"}
            </button>
          </form>
        </Match>
      </Switch>
      <Show when={status()?.configured && !editingBackend()}>
        <p class="muted backend-line">
          Backend <span data-testid="backend-shown">{status()?.url}</span>{" "}
          <button
            type="button"
            class="link"
            data-testid="backend-change"
            onClick={() => {
              setError(undefined);
              setEditingBackend(true);
            }}
          >
            Change
          </button>
        </p>
      </Show>
    </section>
  );
}
