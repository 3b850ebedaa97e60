// The UI's only door to Rust: typed wrappers over the generated bindings. Errors always arrive as
// `{ code, message }` so screens can show the message and branch on the code.
import { Channel } from "@tauri-apps/api/core";
import {
  type AppError,
  type AppInfo_Serialize as AppInfo,
  type AuthState_Serialize as AuthState,
  type BackendStatus_Serialize as BackendStatus,
  commands,
  type SignUpView_Serialize as SignUpView,
} from "./bindings";
import type { DiagnosticsApi } from "./Diagnostics";

export type { AppInfo, AuthState, BackendStatus, SignUpView };

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: AppError };

/** Turns anything thrown across IPC into the app's `{ code, message }` shape. */
export function toAppError(thrown: unknown): AppError {
  if (typeof thrown === "object" && thrown !== null && "code" in thrown && "message" in thrown) {
    const { code, message } = thrown as { code: unknown; message: unknown };
    if (typeof code === "string" && typeof message === "string") {
      // The core only sends codes from `ErrorCode`; anything else is still shown, not dropped.
      return { code, message } as AppError;
    }
  }
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return { code: "ipc_failed", message: `Viva's core did not answer: ${message}` };
}

export async function loadAppInfo(): Promise<Outcome<AppInfo>> {
  try {
    const result = await commands.appInfo();
    return result.status === "ok"
      ? { ok: true, value: result.data }
      : { ok: false, error: result.error };
  } catch (thrown) {
    return { ok: false, error: toAppError(thrown) };
  }
}

/** Tells the core the first screen is drawn, for its start-up time; nothing to wait for. */
export function reportStartupFinished(): void {
  void commands.startupFinished().catch(() => undefined);
}

type Typed<T> = Promise<{ status: "ok"; data: T } | { status: "error"; error: AppError }>;

/** Runs one command and folds both failure paths (a typed error, a thrown one) into `Outcome`. */
async function call<T>(command: () => Typed<T>): Promise<Outcome<T>> {
  try {
    const result = await command();
    // A refusal from Tauri itself (a missing permission, say) arrives as a plain string.
    return result.status === "ok"
      ? { ok: true, value: result.data }
      : { ok: false, error: toAppError(result.error) };
  } catch (thrown) {
    return { ok: false, error: toAppError(thrown) };
  }
}

/** What the account screens need from the core; tests pass their own. */
export interface AccountApi {
  backendStatus(): Promise<Outcome<BackendStatus>>;
  setBackend(url: string, anonKey: string): Promise<Outcome<BackendStatus>>;
  currentUser(): Promise<Outcome<AuthState>>;
  signIn(email: string, password: string): Promise<Outcome<AuthState>>;
  signUp(name: string, email: string, password: string): Promise<Outcome<SignUpView>>;
  signOut(): Promise<Outcome<AuthState>>;
  practiceOffline(): Promise<Outcome<AuthState>>;
}

export const accountApi: AccountApi = {
  backendStatus: () => call(commands.backendStatus),
  setBackend: (url, anonKey) => call(() => commands.setBackend(url, anonKey)),
  currentUser: () => call(commands.currentUser),
  signIn: (email, password) => call(() => commands.signIn(email, password)),
  signUp: (name, email, password) => call(() => commands.signUp(name, email, password)),
  signOut: () => call(commands.signOut),
  practiceOffline: () => call(commands.practiceOffline),
};

// The live session's own types (viva-session, viva-realtime, viva-rtc) cross as they are. Where
// the bindings give a type two phases (fields that may be absent when Rust reads it), the UI
// takes the union of both: a channel's messages are typed as Rust would read them, a result as
// Rust writes it, and the union accepts either.
export type {
  Answering,
  EchoState,
  Ended,
  EndedSync,
  ExportFormat,
  Health,
  Heard,
  Insights,
  InstallView,
  Level,
  Line,
  LiveEvent,
  PreflightView_Serialize as PreflightView,
  Progress,
  ReviewLineView,
  ScheduleRequest,
  SearchHitView,
  SearchRequest,
  SessionListRequest,
  SessionListView,
  SessionRowView,
  SessionState,
  Speaker,
  StartedView,
  StartRequest_Deserialize as StartRequest,
  SyncState,
  ToneResult,
  TranscriptView,
  UpcomingView,
  UpdateChannel,
  UpdateCheckView_Serialize as UpdateCheckView,
  UpdateProgress,
} from "./bindings";

import type {
  Ended,
  ExportFormat,
  Heard,
  InstallView,
  Level,
  LiveEvent,
  MenuRequest,
  PreflightView_Serialize,
  Progress,
  ScheduleRequest,
  SearchHitView,
  SearchRequest,
  SessionListRequest,
  SessionListView,
  StartedView,
  StartRequest_Deserialize,
  ToneResult,
  TranscriptView,
  UpcomingView,
  UpdateChannel,
  UpdateCheckView_Serialize,
  UpdateProgress,
} from "./bindings";

/** What the pre-flight and interview screens need from the core; tests pass their own. */
export interface LiveApi {
  preflight(): Promise<Outcome<PreflightView_Serialize>>;
  /** Streams the microphone's level, and the words it hears once the speaker pauses. */
  startMicTest(
    microphone: string | null,
    onLevel: (level: Level) => void,
    onHeard: (heard: Heard) => void,
  ): Promise<Outcome<null>>;
  stopMicTest(): Promise<Outcome<null>>;
  /** Sets up the offline transcription model, streaming its progress. */
  setUpModel(onProgress: (step: Progress) => void): Promise<Outcome<null>>;
  /** Plays a short tone while `microphone` listens: whether it played, and was heard. */
  playTestTone(
    microphone: string | null,
    onLevel: (level: Level) => void,
  ): Promise<Outcome<ToneResult>>;
  start(
    request: StartRequest_Deserialize,
    onEvent: (event: LiveEvent) => void,
  ): Promise<Outcome<StartedView>>;
  setMuted(muted: boolean): Promise<Outcome<null>>;
  sendAnswer(text: string): Promise<Outcome<null>>;
  /** Hangs up; `null` when it had ended by itself (its `ended` event said how). */
  end(): Promise<Outcome<Ended | null>>;
  leave(): Promise<Outcome<null>>;
}

/** A channel whose messages go to `listener` (the core streams; the UI never polls). */
function channel<T>(listener: (message: T) => void): Channel<T> {
  const opened = new Channel<T>();
  opened.onmessage = listener;
  return opened;
}

export const liveApi: LiveApi = {
  preflight: () => call(commands.preflight),
  startMicTest: (microphone, onLevel, onHeard) =>
    call(() => commands.startMicTest(microphone, channel(onLevel), channel(onHeard))),
  stopMicTest: () => call(commands.stopMicTest),
  setUpModel: (onProgress) => call(() => commands.setUpModel(channel(onProgress))),
  playTestTone: (microphone, onLevel) =>
    call(() => commands.playTestTone(microphone, channel(onLevel))),
  start: (request, onEvent) => call(() => commands.startInterview(request, channel(onEvent))),
  setMuted: (muted) => call(() => commands.setMuted(muted)),
  sendAnswer: (text) => call(() => commands.sendAnswer(text)),
  end: () => call(commands.endInterview),
  leave: () => call(commands.leaveInterview),
};

/** Keeping Viva current; tests pass their own. */
export interface UpdatesApi {
  /** `manual`: asked by the user (always asks the server); otherwise at most every six hours. */
  check(manual: boolean): Promise<Outcome<UpdateCheckView_Serialize>>;
  /**
   * Downloads and verifies the update found; its version. `onProgress` takes either phase's
   * shape: the bindings type a channel's messages as Rust would read them (`total` optional),
   * while Rust writes them (`total` always present).
   */
  download(onProgress: (progress: UpdateProgress) => void): Promise<Outcome<string>>;
  install(): Promise<Outcome<InstallView>>;
  channel(): Promise<UpdateChannel>;
  setChannel(channel: UpdateChannel): Promise<Outcome<UpdateChannel>>;
  /** Calls `listener` each time the menu's "Check for Updates…" is chosen. */
  watchMenu(listener: () => void): void;
}

export const updatesApi: UpdatesApi = {
  check: (manual) => call(() => commands.checkForUpdate(manual)),
  download: (onProgress) => call(() => commands.downloadUpdate(channel(onProgress))),
  install: () => call(commands.installUpdate),
  channel: () => commands.updateChannel(),
  setChannel: (chosen) => call(() => commands.setUpdateChannel(chosen)),
  watchMenu: (listener) => onMenu("check_for_updates", listener),
};

/** Who listens to each menu choice. The core keeps one channel for all of them, so it is
 * registered once and each choice goes to its own listeners. */
const menuListeners = new Map<MenuRequest, Set<() => void>>();
let menuWatched = false;

function onMenu(request: MenuRequest, listener: () => void) {
  const listeners = menuListeners.get(request) ?? new Set();
  listeners.add(listener);
  menuListeners.set(request, listeners);
  if (menuWatched) return;
  menuWatched = true;
  void commands.watchMenu(
    channel<MenuRequest>((chosen) => {
      for (const each of menuListeners.get(chosen) ?? []) each();
    }),
  );
}

export const diagnosticsApi: DiagnosticsApi = {
  save: () => call(commands.saveDiagnostics),
  watchMenu: (listener) => onMenu("save_diagnostics", listener),
};

/** The interviews scheduled for the signed-in candidate. */
export const upcomingInterviews = (): Promise<Outcome<UpcomingView[]>> =>
  call(commands.upcomingInterviews);

/** What review needs from the core; tests pass their own. */
export interface ReviewApi {
  openTranscript(sessionId: string): Promise<Outcome<TranscriptView>>;
  /** Asks where to save (the system's dialog) and writes the file: its path, `null` if cancelled. */
  exportTranscript(sessionId: string, format: ExportFormat): Promise<Outcome<string | null>>;
}

export const reviewApi: ReviewApi = {
  openTranscript: (sessionId) => call(() => commands.openTranscript(sessionId)),
  exportTranscript: (sessionId, format) => call(() => commands.exportTranscript(sessionId, format)),
};

/** The interviews list's door to the core; tests pass their own. */
export interface SessionsApi {
  list(request: SessionListRequest): Promise<Outcome<SessionListView>>;
  /** Full-text search over the transcripts kept on this computer. */
  search(request: SearchRequest): Promise<Outcome<SearchHitView[]>>;
  /** Schedules an interview (interviewers); its id. */
  schedule(request: ScheduleRequest): Promise<Outcome<string>>;
  /** Cancels a scheduled interview; `false` when it had started. */
  cancel(sessionId: string): Promise<Outcome<boolean>>;
}

export const sessionsApi: SessionsApi = {
  list: (request) => call(() => commands.listSessions(request)),
  search: (request) => call(() => commands.searchTranscripts(request)),
  schedule: (request) => call(() => commands.scheduleInterview(request)),
  cancel: (sessionId) => call(() => commands.cancelInterview(sessionId)),
};
