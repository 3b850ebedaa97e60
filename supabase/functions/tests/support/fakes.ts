// What the functions talk to, played on 127.0.0.1 by one in-test server:
// * Supabase Auth's JWKS at /auth/v1/.well-known/jwks.json, serving keys generated at test
//   time (never committed), and tokens minted with GoTrue's claim shape;
// * OpenAI's POST /v1/realtime/client_secrets, speaking its wire format and checking the
//   request the way OpenAI would (key, expiry, session type).

import { exportJWK, generateKeyPair, type JWK, type KeyLike, SignJWT } from "jose";

export const OPENAI_KEY = "sk-test-viva-functions";

export interface KeyPair {
  kid: string;
  alg: "ES256" | "RS256";
  privateKey: KeyLike;
  publicKey: KeyLike;
  publicJwk: JWK;
}

export async function keyPair(alg: "ES256" | "RS256", kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export interface SecretRequest {
  authorization: string | null;
  body: unknown;
}

export class FakeUpstream {
  /** The keys the JWKS serves (change it to rotate). */
  published: KeyPair[] = [];
  jwksFetches = 0;
  /** When set, client_secrets answers this status with an OpenAI error. */
  openaiFailure: number | null = null;
  secretRequests: SecretRequest[] = [];
  private server: Deno.HttpServer<Deno.NetAddr> | null = null;
  url = "";

  async start(): Promise<void> {
    const ready = Promise.withResolvers<void>();
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => ready.resolve() },
      (req) => this.answer(req),
    );
    await ready.promise;
    this.url = `http://127.0.0.1:${this.server.addr.port}`;
  }

  async close(): Promise<void> {
    await this.server?.shutdown();
  }

  private async answer(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/auth/v1/.well-known/jwks.json") {
      this.jwksFetches += 1;
      return Response.json({ keys: this.published.map((k) => k.publicJwk) });
    }
    if (req.method === "POST" && path === "/v1/realtime/client_secrets") {
      return await this.clientSecret(req);
    }
    return Response.json({ error: { message: "not found" } }, { status: 404 });
  }

  private async clientSecret(req: Request): Promise<Response> {
    const authorization = req.headers.get("authorization");
    const body: unknown = await req.json().catch(() => null);
    this.secretRequests.push({ authorization, body });
    const error = (status: number, message: string, type: string) =>
      Response.json({ error: { message, type, param: null, code: null } }, { status });
    if (authorization !== `Bearer ${OPENAI_KEY}`) {
      return error(401, "Incorrect API key provided.", "invalid_request_error");
    }
    if (this.openaiFailure !== null) {
      return error(this.openaiFailure, "The server had an error.", "server_error");
    }
    const record = body as { expires_after?: unknown; session?: { type?: unknown } } | null;
    const expires = record?.expires_after as { anchor?: unknown; seconds?: unknown } | undefined;
    if (
      record === null || expires?.anchor !== "created_at" || typeof expires.seconds !== "number" ||
      expires.seconds < 10 || expires.seconds > 7200 || record.session?.type !== "realtime"
    ) {
      return error(400, "Invalid client secret request.", "invalid_request_error");
    }
    const now = Math.floor(Date.now() / 1000);
    return Response.json({
      value: `ek_${crypto.randomUUID().replaceAll("-", "")}`,
      expires_at: now + expires.seconds,
      session: {
        ...record.session,
        object: "realtime.session",
        id: `sess_${crypto.randomUUID().replaceAll("-", "")}`,
      },
    });
  }
}

export interface UserClaims {
  sub: string;
  email: string;
  tenant: string | null;
  role: string | null;
}

/** A GoTrue-shaped access token's payload for `user`, valid for an hour. */
export function claimsOf(user: UserClaims, issuer: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const appMetadata: Record<string, unknown> = { provider: "email", providers: ["email"] };
  if (user.tenant !== null) appMetadata.tenant_id = user.tenant;
  if (user.role !== null) appMetadata.viva_role = user.role;
  return {
    iss: `${issuer}/auth/v1`,
    sub: user.sub,
    aud: "authenticated",
    exp: now + 3600,
    iat: now,
    email: user.email,
    phone: "",
    app_metadata: appMetadata,
    user_metadata: {},
    role: "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: now }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
  };
}

/** Signs `claims` as-is (no defaults added) with `key`, naming `kid` in the header. */
export async function sign(
  claims: Record<string, unknown>,
  key: KeyPair,
  kid: string = key.kid,
): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid, typ: "JWT" }).sign(
    key.privateKey,
  );
}

/** An HS256 token signed with `secret` (legacy Supabase projects). */
export async function signHs256(claims: Record<string, unknown>, secret: string): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(
    new TextEncoder().encode(secret),
  );
}

function base64url(bytes: Uint8Array | string): string {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let binary = "";
  for (const byte of raw) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A token with `alg: none` and no signature. */
export function unsigned(claims: Record<string, unknown>): string {
  return `${base64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
    base64url(JSON.stringify(claims))
  }.`;
}

/** An HS256 token whose HMAC key is `keyText` (e.g. a public key a client could know). */
export async function hmacWith(
  claims: Record<string, unknown>,
  keyText: string,
  kid?: string,
): Promise<string> {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT", ...(kid ? { kid } : {}) }));
  const payload = base64url(JSON.stringify(claims));
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(keyText),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${header}.${payload}`),
  );
  return `${header}.${payload}.${base64url(new Uint8Array(mac))}`;
}
