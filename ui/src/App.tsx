import { createEffect, createResource, createSignal, Match, on, Show, Switch } from "solid-js";
import { AboutPanel } from "./AboutPanel";
import { AccountPanel } from "./AccountPanel";
import { DiagnosticsNotice } from "./Diagnostics";
import {
  type AuthState,
  accountApi,
  diagnosticsApi,
  type Ended,
  liveApi,
  loadAppInfo,
  reportStartupFinished,
  reviewApi,
  type StartRequest,
  sessionsApi,
  upcomingInterviews,
  updatesApi,
} from "./ipc";
import { Preflight } from "./Preflight";
import { Review } from "./Review";
import { Room } from "./Room";
import { Sessions } from "./Sessions";
import { Summary } from "./Summary";
import { Upcoming } from "./Upcoming";
import { Updates } from "./Updates";

type Screen =
  | { kind: "home" }
  | { kind: "preflight"; interviewId: string | null }
  | { kind: "room"; request: StartRequest }
  | { kind: "summary"; ended: Ended | null }
  | { kind: "sessions" }
  | {
      kind: "review";
      sessionId: string;
      from: "summary" | "sessions";
      focusItem?: string | undefined;
    };

export function App() {
  const [info, { refetch }] = createResource(loadAppInfo);
  // The first screen is interactive once its details are in and the frame showing them is drawn.
  createEffect(
    on(
      info,
      (loaded) => {
        if (loaded) requestAnimationFrame(() => reportStartupFinished());
      },
      { defer: true },
    ),
  );
  const [screen, setScreen] = createSignal<Screen>({ kind: "home" });
  const [auth, setAuth] = createSignal<AuthState | undefined>();
  const signedIn = () => auth()?.state === "signed_in";
  // Who is signed in, so the list of interviews reloads for a new user.
  const userKey = () => {
    const view = auth();
    return view?.state === "signed_in" ? view.user_id : undefined;
  };

  return (
    <main class="shell">
      <header class="brand">
        <img class="brand-mark" src="/icon.png" alt="" width="40" height="40" />
        <div>
          <h1>Viva</h1>
          <p class="tagline">Live voice interviews with a transcript you can trust.</p>
        </div>
      </header>
      <DiagnosticsNotice api={diagnosticsApi} />
      <Switch>
        <Match when={screen().kind === "home"}>
          <section class="welcome" aria-labelledby="welcome-title">
            <h2 id="welcome-title">Welcome</h2>
            <p>
              Practise an interview on your own, or join one your organisation scheduled for you.
              Your answers appear as a live transcript, saved on this computer first.
            </p>
            <div class="actions">
              <Show when={signedIn()}>
                <button
                  type="button"
                  class="primary"
                  onClick={() => setScreen({ kind: "preflight", interviewId: null })}
                  data-testid="practice-start"
                >
                  Practise now
                </button>
              </Show>
              <button
                type="button"
                class="secondary"
                onClick={() => setScreen({ kind: "sessions" })}
                data-testid="open-sessions"
              >
                Interviews and transcripts
              </button>
            </div>
          </section>
          <Show when={userKey()} keyed>
            <Upcoming
              load={upcomingInterviews}
              onJoin={(interview) => setScreen({ kind: "preflight", interviewId: interview.id })}
            />
          </Show>
          <AccountPanel api={accountApi} onAuth={setAuth} />
          <Switch>
            <Match when={info.loading}>
              <p class="muted" aria-live="polite">
                Loading…
              </p>
            </Match>
            <Match when={info()}>
              {(result) => <AboutPanel result={result()} diagnostics={diagnosticsApi} />}
            </Match>
          </Switch>
        </Match>
        <Match when={screen().kind === "preflight" && screen()}>
          {(current) => (
            <Preflight
              api={liveApi}
              interviewId={(current() as { interviewId: string | null }).interviewId}
              onStart={(request) => setScreen({ kind: "room", request })}
              onBack={() => setScreen({ kind: "home" })}
            />
          )}
        </Match>
        <Match when={screen().kind === "room" && screen()}>
          {(current) => (
            <Room
              api={liveApi}
              request={(current() as { request: StartRequest }).request}
              onEnded={(ended) => setScreen({ kind: "summary", ended })}
            />
          )}
        </Match>
        <Match when={screen().kind === "summary" && screen()}>
          {(current) => (
            <Summary
              ended={(current() as { ended: Ended | null }).ended}
              onDone={() => {
                setScreen({ kind: "home" });
                void refetch();
              }}
              onReview={(sessionId) => setScreen({ kind: "review", sessionId, from: "summary" })}
            />
          )}
        </Match>
        <Match when={screen().kind === "sessions"}>
          <Sessions
            api={sessionsApi}
            onOpen={(sessionId, focusItem) =>
              setScreen({ kind: "review", sessionId, from: "sessions", focusItem })
            }
            onBack={() => setScreen({ kind: "home" })}
          />
        </Match>
        <Match when={screen().kind === "review" && screen()}>
          {(current) => {
            const review = current() as {
              sessionId: string;
              from: "summary" | "sessions";
              focusItem?: string | undefined;
            };
            return (
              <Review
                api={reviewApi}
                sessionId={review.sessionId}
                focusItem={review.focusItem}
                onBack={() => {
                  setScreen(review.from === "sessions" ? { kind: "sessions" } : { kind: "home" });
                  void refetch();
                }}
              />
            );
          }}
        </Match>
      </Switch>
      <Updates
        api={updatesApi}
        live={screen().kind === "room"}
        compact={screen().kind !== "home"}
      />
    </main>
  );
}
