// OpenAI, server side: the Realtime session an interview runs with, and the short-lived client
// secret minted for it with `POST /v1/realtime/client_secrets`, so the project key never
// leaves the server.

import type { Config } from "./config.ts";
import { FunctionError, isObject, type JsonObject } from "./http.ts";

/** How long a minted client secret lives (seconds). */
export const CLIENT_SECRET_TTL_S = 600;

/** The sentence every interviewer's instructions start with (the local stack reads the set from it). */
export function instructionsFor(questionSet: string): string {
  return `You are Viva's interviewer for the \`${questionSet}\` question set. ` +
    "Ask its questions one at a time, listen to each answer without interrupting, " +
    "then close the interview politely.";
}

/** The Realtime session configuration (GA shape) for an interview on `questionSet`. */
export function realtimeSession(config: Config, questionSet: string): JsonObject {
  return {
    type: "realtime",
    model: config.realtimeModel,
    instructions: instructionsFor(questionSet),
    output_modalities: ["audio"],
    audio: {
      input: {
        transcription: { model: config.transcriptionModel, language: "en" },
        turn_detection: {
          type: "server_vad",
          threshold: 0.5,
          prefix_padding_ms: 300,
          silence_duration_ms: 500,
        },
      },
      output: { voice: config.voice },
    },
  };
}

export interface ClientSecret {
  value: string;
  expires_at: number;
}

function unavailable(message: string): FunctionError {
  return new FunctionError(503, "voice_unavailable", message);
}

/**
 * Mints a client secret for `session`; any failure (no key, network, non-2xx, an answer of the
 * wrong shape) is 503 voice_unavailable, logged without the key.
 */
export async function mintClientSecret(
  config: Config,
  session: JsonObject,
  fetchImpl: typeof fetch = fetch,
): Promise<ClientSecret> {
  if (config.openaiApiKey === null) {
    console.error("interview-start: OPENAI_API_KEY is not set; no Realtime grant can be minted");
    throw unavailable("voice is not available right now");
  }
  let response: Response;
  try {
    response = await fetchImpl(`${config.openaiBaseUrl}/v1/realtime/client_secrets`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${config.openaiApiKey}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        expires_after: { anchor: "created_at", seconds: CLIENT_SECRET_TTL_S },
        session,
      }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    console.error(`interview-start: client_secrets request failed: ${String(error)}`);
    throw unavailable("voice is not available right now");
  }
  const text = await response.text().catch(() => "");
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Checked below.
  }
  if (!response.ok) {
    // OpenAI's error type and code only: its message may quote part of the key.
    const error = isObject(body) && isObject(body.error) ? body.error : {};
    console.error(
      `interview-start: client_secrets answered ${response.status} ` +
        `(type ${String(error.type ?? "none")}, code ${String(error.code ?? "none")})`,
    );
    throw unavailable("voice is not available right now");
  }
  if (
    !isObject(body) || typeof body.value !== "string" || body.value === "" ||
    typeof body.expires_at !== "number" || !Number.isFinite(body.expires_at)
  ) {
    console.error("interview-start: client_secrets answered without a value and expires_at");
    throw unavailable("voice is not available right now");
  }
  return { value: body.value, expires_at: body.expires_at };
}
