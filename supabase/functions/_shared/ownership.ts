// The check transcript-processor and interview-end make before acting as the caller: the
// session exists (404 otherwise) and is the caller's own (its tenant, bound to the caller;
// 403 otherwise). The database checks again as the caller; this gives the contract's answers.

import type { Caller } from "./auth.ts";
import type { Sql } from "./db.ts";
import { forbidden, isUuid, notFound } from "./http.ts";
import { first, text, textOrNull } from "./rows.ts";

export async function ownSession(sql: Sql, caller: Caller, sessionId: string): Promise<void> {
  if (!isUuid(sessionId)) {
    throw notFound("there is no such session");
  }
  const row = first(
    await sql`
      select tenant_id, candidate_id from public.interview_sessions where id = ${sessionId}`,
  );
  if (row === null) {
    throw notFound("there is no such session");
  }
  if (
    text(row, "tenant_id") !== caller.tenantId || textOrNull(row, "candidate_id") !== caller.userId
  ) {
    throw forbidden("this session belongs to someone else");
  }
}
