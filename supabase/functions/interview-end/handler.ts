// `POST /functions/v1/interview-end`: the caller ends their own live session, so the close
// lands in the same database as the functions' other writes. The update runs as role
// `authenticated` with the caller's verified claims: row-level security and the session update
// trigger decide exactly as they would for the same request through PostgREST. Closing a
// session that is not live (already closed, never started) changes nothing: `closed: false`.

import type { Env } from "../_shared/config.ts";
import { asCaller, sqlState } from "../_shared/db.ts";
import { forbidden, invalidRequest, json, readObject, serveJson } from "../_shared/http.ts";
import { ownSession } from "../_shared/ownership.ts";
import { type Deps, services } from "../_shared/services.ts";

const END_STATUSES = ["completed", "interrupted", "failed"];
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
/** numeric(12, 6) holds less than this. */
const MAX_COST_USD = 1_000_000;

interface End {
  sessionId: string;
  status: string;
  endedAt: string;
  durationMs: number | null;
  costUsd: number | null;
}

function parseEnd(body: Record<string, unknown>): End {
  const {
    session_id: sessionId,
    status,
    ended_at: endedAt,
    duration_ms: durationMs,
    realtime_cost_usd: cost,
  } = body;
  if (typeof sessionId !== "string") {
    throw invalidRequest("session_id must be a string");
  }
  if (typeof status !== "string" || !END_STATUSES.includes(status)) {
    throw invalidRequest("status must be completed, interrupted or failed");
  }
  if (
    typeof endedAt !== "string" || !RFC3339.test(endedAt) || Number.isNaN(Date.parse(endedAt))
  ) {
    throw invalidRequest("ended_at must be an RFC 3339 time");
  }
  if (
    durationMs !== undefined && durationMs !== null &&
    (typeof durationMs !== "number" || !Number.isSafeInteger(durationMs) || durationMs < 0)
  ) {
    throw invalidRequest("duration_ms must be a whole number >= 0");
  }
  if (
    cost !== undefined && cost !== null &&
    (typeof cost !== "number" || !Number.isFinite(cost) || cost < 0 || cost >= MAX_COST_USD)
  ) {
    throw invalidRequest("realtime_cost_usd must be a number >= 0");
  }
  return {
    sessionId,
    status,
    endedAt,
    durationMs: typeof durationMs === "number" ? durationMs : null,
    costUsd: typeof cost === "number" ? cost : null,
  };
}

export function makeHandler(env: Env, deps: Deps = {}): (req: Request) => Promise<Response> {
  const s = services(env, deps);
  return serveJson("interview-end", async (req) => {
    const caller = await s.verify(req);
    const end = parseEnd(await readObject(req));
    await ownSession(s.sql, caller, end.sessionId);
    try {
      const closed = await asCaller(s.sql, caller, async (tx) => {
        const rows = await tx`
          update public.interview_sessions
             set status = ${end.status}, ended_at = ${end.endedAt},
                 duration_ms = ${end.durationMs}, realtime_cost_usd = ${end.costUsd}
           where id = ${end.sessionId} and status = 'active'
          returning id`;
        return rows.length === 1;
      });
      return json({ closed });
    } catch (error) {
      if (sqlState(error) === "42501") {
        throw forbidden("this session cannot be ended by you");
      }
      throw error;
    }
  });
}
