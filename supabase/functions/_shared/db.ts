// The database: one postgres.js pool per function instance, and the "act as the caller" helper
// that makes a statement run exactly as PostgREST would run it for the signed-in user (role
// `authenticated`, the verified claims in `request.jwt.claims`), so row-level security and the
// schema's triggers judge it.

import postgres from "postgres";

import type { Caller } from "./auth.ts";
import type { Config } from "./config.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

/**
 * A small pool on SUPABASE_DB_URL. `prepare: false` keeps it working behind a transaction-mode
 * pooler (Supavisor on port 6543), where a prepared statement may land on another connection.
 */
export function connect(config: Config): Sql {
  return postgres(config.dbUrl, {
    prepare: false,
    max: 4,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "viva-edge-functions" },
  });
}

/** Runs `work` in one transaction as the caller (role + claims), committed when it returns. */
export async function asCaller<T>(
  sql: Sql,
  caller: Caller,
  work: (tx: Tx) => Promise<T>,
): Promise<T> {
  let result: { value: T } | null = null;
  await sql.begin(async (tx) => {
    try {
      await tx`set local role authenticated`;
    } catch (error) {
      // A set-up fault, not the caller's: answered 500 and logged, never a 403 the user would
      // take for "not yours".
      throw new Error(
        `the database role in SUPABASE_DB_URL cannot act as \`authenticated\` (grant it membership): ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true)`;
    result = { value: await work(tx) };
  });
  if (result === null) {
    throw new Error("the transaction ended without a result");
  }
  return (result as { value: T }).value;
}

/** A PostgreSQL error's SQLSTATE, if `error` is one. */
export function sqlState(error: unknown): string | null {
  if (error instanceof postgres.PostgresError) {
    return error.code;
  }
  return null;
}
