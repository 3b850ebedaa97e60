import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import { AccountPanel } from "./AccountPanel";
import type { AccountApi, AuthState, BackendStatus, Outcome } from "./ipc";

afterEach(cleanup);

const configured: BackendStatus = {
  configured: true,
  offline: false,
  url: "https://acme.supabase.co",
  anonKey: "anon",
  keyring: { available: true, message: null },
};
const signedOut: AuthState = { state: "signed_out", reason: null };
const signedIn: AuthState = {
  state: "signed_in",
  user_id: "u1",
  email: "ada@acme.test",
  role: "candidate",
};

const ok = <T,>(value: T): Promise<Outcome<T>> => Promise.resolve({ ok: true, value });

/** An API whose answers the test sets; it records what the panel asked. */
function fakeApi(overrides: Partial<AccountApi> = {}): AccountApi & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    backendStatus: () => ok(configured),
    setBackend: (url, anonKey) => {
      calls.push(`setBackend ${url} ${anonKey}`);
      return ok({ ...configured, url });
    },
    currentUser: () => ok(signedOut),
    signIn: (email, password) => {
      calls.push(`signIn ${email} ${password}`);
      return ok(signedIn);
    },
    signUp: () => ok({ outcome: "confirm_email", email: "new@acme.test" }),
    signOut: () => {
      calls.push("signOut");
      return ok(signedOut);
    },
    practiceOffline: () => {
      calls.push("practiceOffline");
      return ok({ ...signedIn, email: "practice-1@viva.local" });
    },
    ...overrides,
  };
}

function type(testId: string, value: string) {
  fireEvent.input(screen.getByTestId(testId), { target: { value } });
}

describe("AccountPanel", () => {
  it("asks for the backend first when none is set up, and saves what is typed", async () => {
    const api = fakeApi({
      backendStatus: () =>
        ok({ configured: false, offline: false, url: null, anonKey: null, keyring: null }),
    });
    render(() => <AccountPanel api={api} />);
    await screen.findByTestId("backend-form");
    type("backend-url", "https://acme.supabase.co");
    type("backend-anon-key", "anon-123");
    fireEvent.submit(screen.getByTestId("backend-form"));
    await waitFor(() =>
      expect(api.calls).toContain("setBackend https://acme.supabase.co anon-123"),
    );
  });

  it("signs in, shows who, clears the password, and signs out", async () => {
    const api = fakeApi();
    render(() => <AccountPanel api={api} />);
    await screen.findByTestId("auth-form");
    type("auth-email", "ada@acme.test");
    type("auth-password", "secret-pass");
    fireEvent.submit(screen.getByTestId("auth-form"));
    expect((await screen.findByTestId("signed-in-email")).textContent).toBe("ada@acme.test");
    expect(api.calls).toContain("signIn ada@acme.test secret-pass");
    fireEvent.click(screen.getByTestId("sign-out"));
    await screen.findByTestId("auth-form");
    expect((screen.getByTestId("auth-password") as HTMLInputElement).value).toBe("");
  });

  it("shows a refused sign-in inline, with its code, and stays on the form", async () => {
    const api = fakeApi({
      signIn: () =>
        Promise.resolve({
          ok: false,
          error: { code: "invalid_credentials", message: "The email or password is wrong." },
        }),
    });
    render(() => <AccountPanel api={api} />);
    await screen.findByTestId("auth-form");
    type("auth-email", "ada@acme.test");
    type("auth-password", "nope");
    fireEvent.submit(screen.getByTestId("auth-form"));
    const alert = await screen.findByTestId("account-error");
    expect(alert.textContent).toBe("The email or password is wrong.");
    expect(alert.dataset.code).toBe("invalid_credentials");
    expect(screen.queryByTestId("signed-in-email")).toBeNull();
    expect((screen.getByTestId("auth-password") as HTMLInputElement).value).toBe("");
  });

  it("says why the user was signed out, and warns when the keyring is missing", async () => {
    const api = fakeApi({
      backendStatus: () =>
        ok({
          ...configured,
          keyring: {
            available: false,
            message:
              "Your system keyring is not available — Viva keeps you signed in only until you quit.",
          },
        }),
      currentUser: () =>
        ok({ state: "signed_out", reason: "You were signed out: session revoked." }),
    });
    render(() => <AccountPanel api={api} />);
    expect((await screen.findByTestId("signed-out-reason")).textContent).toContain("revoked");
    expect(screen.getByTestId("keyring-warning").textContent).toContain("only until you quit");
  });

  it("after sign-up that needs confirmation, says where the email went", async () => {
    const api = fakeApi();
    render(() => <AccountPanel api={api} />);
    await screen.findByTestId("auth-form");
    fireEvent.click(screen.getByTestId("auth-switch"));
    type("auth-name", "New Person");
    type("auth-email", "new@acme.test");
    type("auth-password", "a long passphrase");
    fireEvent.submit(screen.getByTestId("auth-form"));
    expect((await screen.findByTestId("auth-notice")).textContent).toContain("new@acme.test");
    expect(screen.getByTestId("auth-form").dataset.mode).toBe("sign_in");
  });

  it("offers offline practice with no account, and leaves it again", async () => {
    let offline = false;
    const api = fakeApi({
      backendStatus: () =>
        ok({ configured: false, offline, url: null, anonKey: null, keyring: null }),
      currentUser: () => ok(offline ? { ...signedIn, email: "practice-1@viva.local" } : signedOut),
      practiceOffline: () => {
        offline = true;
        return ok({ ...signedIn, email: "practice-1@viva.local" });
      },
      signOut: () => {
        offline = false;
        return ok(signedOut);
      },
    });
    render(() => <AccountPanel api={api} />);
    fireEvent.click(await screen.findByTestId("practice-offline"));
    await screen.findByTestId("offline-banner");
    expect(screen.queryByTestId("keyring-warning")).toBeNull();
    fireEvent.click(screen.getByTestId("leave-offline"));
    await screen.findByTestId("backend-form");
  });
});
