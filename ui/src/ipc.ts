// The UI's only door to Rust: typed wrappers over the generated bindings. Errors always arrive as
// `{ code, message }` so screens can show the message and branch on the code.
import { type AppError, type AppInfo, commands } from "./bindings";

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
