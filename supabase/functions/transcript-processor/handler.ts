// `POST /functions/v1/transcript-processor` (docs/protocols.md §1): stores the lines of the
// caller's own session, idempotently by (session_id, item_id) — a line already stored, or
// sent twice in one batch, counts as a duplicate and is never overwritten. Each line is checked
// against the contract's limits; a bad one is listed in `rejected` and the rest are stored.
//
// The lines go in through the schema's `viva_pipeline.record_transcript_lines`, run as role
// `authenticated` with the caller's verified claims: the database checks the caller again,
// whatever role this function's own connection has.

import type { Env } from "../_shared/config.ts";
import { asCaller, sqlState } from "../_shared/db.ts";
import {
  forbidden,
  FunctionError,
  invalidRequest,
  isObject,
  json,
  readObject,
  serveJson,
} from "../_shared/http.ts";
import { ownSession } from "../_shared/ownership.ts";
import { first } from "../_shared/rows.ts";
import { type Deps, services } from "../_shared/services.ts";

/** Lines one call may carry (the contract's limit). */
export const MAX_ENTRIES_PER_CALL = 500;

interface Outcome {
  accepted: number;
  duplicates: number;
  rejected: { item_id: string; code: string; message: string }[];
}

function outcome(value: unknown): Outcome {
  if (
    isObject(value) && typeof value.accepted === "number" &&
    typeof value.duplicates === "number" && Array.isArray(value.rejected)
  ) {
    const rejected = value.rejected.map((entry: unknown) => {
      if (
        isObject(entry) && typeof entry.item_id === "string" && typeof entry.code === "string" &&
        typeof entry.message === "string"
      ) {
        return { item_id: entry.item_id, code: entry.code, message: entry.message };
      }
      throw new Error("the pipeline returned a rejection of the wrong shape");
    });
    return { accepted: value.accepted, duplicates: value.duplicates, rejected };
  }
  throw new Error("the pipeline returned an answer of the wrong shape");
}

export function makeHandler(env: Env, deps: Deps = {}): (req: Request) => Promise<Response> {
  const s = services(env, deps);
  return serveJson("transcript-processor", async (req) => {
    const caller = await s.verify(req);
    const body = await readObject(req);
    const { session_id: sessionId, entries } = body;
    if (typeof sessionId !== "string") {
      throw invalidRequest("session_id must be a string");
    }
    if (!Array.isArray(entries)) {
      throw invalidRequest("entries must be an array");
    }
    if (entries.length > MAX_ENTRIES_PER_CALL) {
      throw new FunctionError(
        400,
        "too_many_entries",
        `send at most ${MAX_ENTRIES_PER_CALL} entries per call`,
      );
    }
    await ownSession(s.sql, caller, sessionId);
    try {
      const result = await asCaller(s.sql, caller, async (tx) => {
        const row = first(
          await tx`
            select viva_pipeline.record_transcript_lines(${sessionId}, ${
            tx.json(entries)
          }) as outcome`,
        );
        return outcome(row?.outcome);
      });
      return json(result);
    } catch (error) {
      // The pipeline refused the caller after all (the session changed hands in between).
      if (sqlState(error) === "42501") {
        throw forbidden("this session belongs to someone else");
      }
      throw error;
    }
  });
}
