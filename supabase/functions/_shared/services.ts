// What every function is built from: its configuration, its database pool and its token
// verifier. Tests hand in their own pool (to close it) and a short JWKS cool-down.

import { type Caller, makeVerifier, type VerifierOptions } from "./auth.ts";
import { type Config, type Env, readConfig } from "./config.ts";
import { connect, type Sql } from "./db.ts";

export interface Deps {
  /** A pool to use instead of one on SUPABASE_DB_URL (the caller closes it). */
  sql?: Sql;
  /** The fetch the provider clients use. */
  fetch?: typeof fetch;
  verifier?: VerifierOptions;
}

export interface Services {
  config: Config;
  sql: Sql;
  verify: (req: Request) => Promise<Caller>;
  fetch: typeof fetch;
}

export function services(env: Env, deps: Deps = {}): Services {
  const config = readConfig(env);
  return {
    config,
    sql: deps.sql ?? connect(config),
    verify: makeVerifier(config, deps.verifier),
    fetch: deps.fetch ?? fetch,
  };
}
