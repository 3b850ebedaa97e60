// Who is calling: the bearer token verified as hosted Supabase issues it today.
//
// * Asymmetric signing keys (ES256, RS256) are checked against the project's JWKS at
//   `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`, fetched by jose's remote key set: cached,
//   and fetched again when a token names a key id the cached set does not have (a rotation).
// * Legacy HS256 tokens are accepted only when the project's legacy secret is configured
//   (VIVA_LEGACY_JWT_SECRET); otherwise they are refused, so a token signed with anything a
//   client could know (the public key, say) never passes.
// * Every other `alg` (none included) is refused; `exp` is required and `aud` must be
//   "authenticated" (the anon and service keys have no such audience).
//
// The gateway's own check is off for these functions (supabase/config.toml): it only knows the
// legacy secret, and would refuse every asymmetric token.

import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions,
} from "jose";

import type { Config } from "./config.ts";
import { FunctionError, isObject, isUuid } from "./http.ts";

export type VivaRole = "candidate" | "interviewer";

/** The verified caller, reduced to what the functions decide on, plus the claims themselves. */
export interface Caller {
  userId: string;
  email: string;
  /** `app_metadata.tenant_id`; null when the user belongs to no organisation yet. */
  tenantId: string | null;
  /** `app_metadata.viva_role`; null when unset or unknown. */
  role: VivaRole | null;
  /** The verified payload, as PostgREST would put it in `request.jwt.claims`. */
  claims: JWTPayload;
}

export interface VerifierOptions {
  /** How long jose waits before fetching the JWKS again for an unknown key id (default 30 s). */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is trusted before it is fetched again (default 10 min). */
  jwksMaxAgeMs?: number;
}

const ASYMMETRIC = ["ES256", "RS256"];

function unauthorized(message: string): FunctionError {
  return new FunctionError(401, "unauthorized", message);
}

/** jose's refusals that mean "this token is not good", as opposed to "the key set is down". */
function isTokenError(error: unknown): boolean {
  return error instanceof joseErrors.JWTExpired ||
    error instanceof joseErrors.JWTClaimValidationFailed ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JOSENotSupported ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys ||
    error instanceof joseErrors.JWKInvalid;
}

function bearer(req: Request): string {
  const header = req.headers.get("authorization") ?? "";
  const match = /^bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null || match[1] === undefined) {
    throw unauthorized("sign in first: this function needs a bearer token");
  }
  return match[1];
}

function callerOf(payload: JWTPayload): Caller {
  const sub = payload.sub;
  if (typeof sub !== "string" || !isUuid(sub)) {
    throw unauthorized("this sign-in is not valid: the token names no user");
  }
  const email = typeof payload.email === "string" ? payload.email : "";
  const meta = isObject(payload.app_metadata) ? payload.app_metadata : {};
  const tenant = meta.tenant_id;
  const role = meta.viva_role;
  return {
    userId: sub,
    email,
    tenantId: typeof tenant === "string" && isUuid(tenant) ? tenant : null,
    role: role === "candidate" || role === "interviewer" ? role : null,
    claims: payload,
  };
}

/** A verifier for this project's tokens: `verify(req)` gives the caller or throws 401. */
export function makeVerifier(
  config: Config,
  options: VerifierOptions = {},
): (req: Request) => Promise<Caller> {
  const jwks = createRemoteJWKSet(
    new URL(`${config.supabaseUrl}/auth/v1/.well-known/jwks.json`),
    {
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
      timeoutDuration: 5_000,
    },
  );
  const secret = config.legacyJwtSecret === null
    ? null
    : new TextEncoder().encode(config.legacyJwtSecret);
  const checks = (algorithms: string[]): JWTVerifyOptions => ({
    algorithms,
    audience: "authenticated",
    requiredClaims: ["exp", "sub"],
  });

  return async (req: Request): Promise<Caller> => {
    const token = bearer(req);
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("this sign-in is not valid: the token cannot be read");
    }
    try {
      if (typeof alg === "string" && ASYMMETRIC.includes(alg)) {
        return callerOf((await jwtVerify(token, jwks, checks(ASYMMETRIC))).payload);
      }
      if (alg === "HS256" && secret !== null) {
        return callerOf((await jwtVerify(token, secret, checks(["HS256"]))).payload);
      }
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw unauthorized("your sign-in has expired; refresh the token and try again");
      }
      if (isTokenError(error)) {
        throw unauthorized("this sign-in is not valid");
      }
      // The key set could not be fetched or read: not the caller's fault.
      throw error;
    }
    throw unauthorized("this sign-in is not valid: its signing algorithm is not accepted");
  };
}
