// CORS, the contract's JSON errors (docs/protocols.md §1) and the request wrapper every
// function shares: OPTIONS, the method check, and one place that turns any failure into a
// `{"code","message"}` reply — never a stack trace.

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
  "access-control-allow-methods": "POST, OPTIONS",
};

export type ErrorCode =
  | "unauthorized"
  | "invalid_request"
  | "too_many_entries"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "consent_required"
  | "interview_closed"
  | "interview_taken"
  | "too_many_sessions"
  | "voice_unavailable"
  | "internal_error";

/** A refusal the client is told about: its status, code and a human message. */
export class FunctionError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "FunctionError";
  }
}

export const invalidRequest = (message: string): FunctionError =>
  new FunctionError(400, "invalid_request", message);
export const notFound = (message: string): FunctionError =>
  new FunctionError(404, "not_found", message);
export const forbidden = (message: string): FunctionError =>
  new FunctionError(403, "forbidden", message);

export function json(
  body: unknown,
  status = 200,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, "content-type": "application/json", ...headers },
  });
}

export function errorResponse(error: FunctionError): Response {
  return json({ code: error.code, message: error.message }, error.status, error.headers);
}

/** A JSON object, or nothing. */
export type JsonObject = { [key: string]: unknown };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The request's body as a JSON object, else 400. */
export async function readObject(req: Request): Promise<JsonObject> {
  let text: string;
  try {
    text = await req.text();
  } catch {
    throw invalidRequest("the request body could not be read");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest("the request body is not valid JSON");
  }
  if (!isObject(body)) {
    throw invalidRequest("the request body must be a JSON object");
  }
  return body;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** What a failure is logged as: its name and message, never a token or a request body. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === "string" ? ` ${code}` : ""}: ${error.message}`;
  }
  return String(error);
}

/**
 * Wraps a function's POST handling: answers OPTIONS, refuses other methods, and turns every
 * failure into the contract's JSON error (an unexpected one is logged and answered 500).
 */
export function serveJson(
  name: string,
  handle: (req: Request) => Promise<Response>,
): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    if (req.method === "OPTIONS") {
      return new Response("ok", { status: 200, headers: CORS_HEADERS });
    }
    if (req.method !== "POST") {
      return errorResponse(
        new FunctionError(405, "method_not_allowed", `${name} answers POST only`, {
          allow: "POST, OPTIONS",
        }),
      );
    }
    try {
      return await handle(req);
    } catch (error) {
      if (error instanceof FunctionError) {
        return errorResponse(error);
      }
      console.error(`${name}: unexpected failure: ${describe(error)}`);
      return errorResponse(
        new FunctionError(500, "internal_error", "the function failed; try again later"),
      );
    }
  };
}
