// The functions' configuration, read once from their environment (Supabase sets SUPABASE_URL
// and SUPABASE_DB_URL itself; the rest are the project's function secrets, see
// docs/deploying.md).

/** A function's environment: `Deno.env.toObject()` when deployed, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Config {
  /** The project's base URL; its JWKS is at `/auth/v1/.well-known/jwks.json`. */
  supabaseUrl: string;
  /** A direct (or transaction-pooled) connection string for the project's database. */
  dbUrl: string;
  /** The project's OpenAI key; without it no Realtime grant can be minted (503). */
  openaiApiKey: string | null;
  /** OpenAI's API base, without a trailing slash. */
  openaiBaseUrl: string;
  /** The SDP proxy's signalling URL (wss://…) for GPT-Live grants; without it, 503. */
  proxyUrl: string | null;
  realtimeModel: string;
  liveModel: string;
  transcriptionModel: string;
  voice: string;
  /** Practice sessions one user may start per rolling hour. */
  practiceSessionsPerHour: number;
  /** The project's legacy JWT secret: HS256 tokens are refused unless it is set. */
  legacyJwtSecret: string | null;
}

function optional(env: Env, name: string): string | null {
  const value = env[name]?.trim();
  return value ? value : null;
}

function withDefault(env: Env, name: string, fallback: string): string {
  return optional(env, name) ?? fallback;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** Reads the configuration; throws (at start-up, not per request) when a required value is missing. */
export function readConfig(env: Env): Config {
  const supabaseUrl = optional(env, "SUPABASE_URL");
  const dbUrl = optional(env, "SUPABASE_DB_URL");
  if (supabaseUrl === null || dbUrl === null) {
    throw new Error("SUPABASE_URL and SUPABASE_DB_URL must be set");
  }
  const perHour = Number(withDefault(env, "VIVA_PRACTICE_SESSIONS_PER_HOUR", "60"));
  if (!Number.isSafeInteger(perHour) || perHour < 0) {
    throw new Error("VIVA_PRACTICE_SESSIONS_PER_HOUR must be a whole number >= 0");
  }
  return {
    supabaseUrl: withoutTrailingSlash(supabaseUrl),
    dbUrl,
    openaiApiKey: optional(env, "OPENAI_API_KEY"),
    openaiBaseUrl: withoutTrailingSlash(
      withDefault(env, "VIVA_OPENAI_BASE_URL", "https://api.openai.com"),
    ),
    proxyUrl: optional(env, "VIVA_PROXY_URL"),
    realtimeModel: withDefault(env, "VIVA_REALTIME_MODEL", "gpt-realtime"),
    liveModel: withDefault(env, "VIVA_LIVE_MODEL", "gpt-live-1"),
    transcriptionModel: withDefault(env, "VIVA_TRANSCRIPTION_MODEL", "gpt-4o-mini-transcribe"),
    voice: withDefault(env, "VIVA_VOICE", "marin"),
    practiceSessionsPerHour: perHour,
    legacyJwtSecret: optional(env, "VIVA_LEGACY_JWT_SECRET"),
  };
}
