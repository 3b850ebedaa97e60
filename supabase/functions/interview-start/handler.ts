// `POST /functions/v1/interview-start` (docs/protocols.md §1): opens the caller's interview —
// a scheduled one addressed to them, one of theirs being resumed, or a new practice run — and
// hands back the voice grant built on the server from the interview's question set.
//
// The client calls it again on every reconnect, secret renewal and re-session: the same caller
// on the same live interview always gets a fresh grant (never a 409). Two different users can
// never both hold one interview: the row is locked, and the update binds it only when it is
// unbound or already the caller's. Any failure to mint the grant rolls everything back.

import type { Caller } from "../_shared/auth.ts";
import type { Env } from "../_shared/config.ts";
import type { Tx } from "../_shared/db.ts";
import {
  forbidden,
  FunctionError,
  invalidRequest,
  isObject,
  isUuid,
  json,
  type JsonObject,
  notFound,
  readObject,
  serveJson,
} from "../_shared/http.ts";
import { CLIENT_SECRET_TTL_S, mintClientSecret, realtimeSession } from "../_shared/openai.ts";
import { rolloutMode } from "../_shared/rollout.ts";
import { bool, first, int, text, textOrNull, time } from "../_shared/rows.ts";
import { type Deps, type Services, services } from "../_shared/services.ts";

/** The longest an interview session may last before a planned re-session (seconds). */
export const MAX_DURATION_S = 3300;
const DEFAULT_PRACTICE_SET = "general_behavioural";
const QUESTION_SET = /^[a-z0-9_]{1,64}$/;
const OPEN_STATUSES = ["scheduled", "active", "interrupted"];
/** A recording notice's version, as the client names the one the candidate agreed to. */
const NOTICE_VERSION = /^[A-Za-z0-9._-]{1,64}$/;

type VoiceApi = "live" | "realtime";

interface StartRequest {
  mode: "interview" | "practice";
  interviewId: string | null;
  api: VoiceApi | null;
  questionSet: string | null;
  /** The version of the recording notice the candidate agreed to, if the client sent one. */
  consentNotice: string | null;
}

/** The session as opened, plus what the grant is decided on. */
interface Opened {
  id: string;
  tenantId: string;
  startedAt: Date;
  questionSet: string;
  api: VoiceApi;
  voiceEnabled: boolean;
  voicePercent: number;
}

function parseRequest(body: JsonObject): StartRequest {
  const { mode, interview_id: interviewId, api, question_set: questionSet, consent } = body;
  if (mode !== "interview" && mode !== "practice") {
    throw invalidRequest('mode must be "interview" or "practice"');
  }
  if (interviewId !== undefined && interviewId !== null && typeof interviewId !== "string") {
    throw invalidRequest("interview_id must be a string");
  }
  if (api !== undefined && api !== null) {
    if (mode !== "practice") {
      throw invalidRequest(
        "an interview's voice API is chosen by its organisation, not by the client",
      );
    }
    if (api !== "live" && api !== "realtime") {
      throw invalidRequest('api must be "live" or "realtime"');
    }
  }
  if (
    questionSet !== undefined && questionSet !== null &&
    (typeof questionSet !== "string" || !QUESTION_SET.test(questionSet))
  ) {
    throw invalidRequest("question_set must be 1 to 64 of a-z, 0-9 and _");
  }
  let consentNotice: string | null = null;
  if (consent !== undefined && consent !== null) {
    const notice = isObject(consent) ? consent.notice : undefined;
    if (typeof notice !== "string" || !NOTICE_VERSION.test(notice)) {
      throw invalidRequest('consent must be {"notice": <1 to 64 of A-Z, a-z, 0-9, . _ ->}');
    }
    consentNotice = notice;
  }
  if (mode === "interview" && (interviewId === undefined || interviewId === null)) {
    throw invalidRequest('mode "interview" needs an interview_id');
  }
  return {
    mode,
    interviewId: typeof interviewId === "string" ? interviewId : null,
    api: api === "live" || api === "realtime" ? api : null,
    questionSet: typeof questionSet === "string" ? questionSet : null,
    consentNotice,
  };
}

function voiceApi(value: string | null): VoiceApi | null {
  return value === "live" || value === "realtime" ? value : null;
}

/** Refuses a practice start past the hourly limit, with when to try again. */
async function checkPracticeLimit(tx: Tx, caller: Caller, limit: number): Promise<void> {
  // One practice start per user at a time, so two racing starts cannot both slip under it.
  await tx`select pg_advisory_xact_lock(hashtextextended(${"viva-practice:" + caller.userId}, 0))`;
  const row = first(
    await tx`
      select count(*)::int as started,
             ceil(extract(epoch from (min(started_at) + interval '1 hour' - now())))::int as wait_s
        from public.interview_sessions
       where candidate_id = ${caller.userId} and mode = 'practice'
         and started_at > now() - interval '1 hour'`,
  );
  if (row === null) throw new Error("count returned no row");
  if (int(row, "started") >= limit) {
    // Within 1..3600: a start racing this one may stamp a moment after this transaction's
    // now(), and no start counts for more than the hour.
    const wait = row.wait_s === null ? 3600 : Math.min(3600, Math.max(1, int(row, "wait_s")));
    throw new FunctionError(
      429,
      "too_many_sessions",
      `you have started ${limit} practice sessions in the last hour; try again later`,
      { "retry-after": String(wait) },
    );
  }
}

async function startPractice(
  tx: Tx,
  caller: Caller,
  request: StartRequest,
  limit: number,
): Promise<Opened> {
  if (caller.tenantId === null) {
    throw forbidden("your account belongs to no organisation yet");
  }
  await checkPracticeLimit(tx, caller, limit);
  const tenant = first(
    await tx`
      select voice_enabled, voice_rollout_percent from public.tenants where id = ${caller.tenantId}`,
  );
  if (tenant === null) {
    throw forbidden("your organisation does not exist");
  }
  const questionSet = request.questionSet ?? DEFAULT_PRACTICE_SET;
  const api: VoiceApi = request.api ?? "realtime";
  const row = first(
    await tx`
      insert into public.interview_sessions
        (tenant_id, candidate_id, candidate_email, title, question_set, mode, status, started_at,
         voice_api, consent_at, consent_notice)
      values (${caller.tenantId}, ${caller.userId}, ${caller.email || null}, 'Practice interview',
              ${questionSet}, 'practice', 'active', now(), ${api},
              case when ${request.consentNotice}::text is not null then now() end,
              ${request.consentNotice})
      returning id, tenant_id, started_at`,
  );
  if (row === null) throw new Error("insert returned no row");
  return {
    id: text(row, "id"),
    tenantId: text(row, "tenant_id"),
    startedAt: time(row, "started_at"),
    questionSet,
    api,
    voiceEnabled: bool(tenant, "voice_enabled"),
    voicePercent: int(tenant, "voice_rollout_percent"),
  };
}

async function startInterview(
  tx: Tx,
  caller: Caller,
  interviewId: string,
  consentNotice: string | null,
): Promise<Opened> {
  if (!isUuid(interviewId)) {
    throw notFound("there is no such interview");
  }
  const row = first(
    await tx`
      select s.tenant_id, s.candidate_id, s.candidate_email, s.status, s.question_set, s.mode,
             s.consent_at is not null as consented,
             coalesce(s.voice_api, t.voice_api) as voice_api, t.voice_enabled,
             t.voice_rollout_percent
        from public.interview_sessions s
        join public.tenants t on t.id = s.tenant_id
       where s.id = ${interviewId}
         for update of s`,
  );
  if (row === null) {
    throw notFound("there is no such interview");
  }
  const tenantId = text(row, "tenant_id");
  const bound = textOrNull(row, "candidate_id");
  const address = textOrNull(row, "candidate_email");
  // Bound to the caller, or bound to nobody yet and addressed to them: an interviewer's change
  // of address leaves an earlier candidate out.
  const mine = bound === null
    ? address !== null && caller.email !== "" &&
      address.toLowerCase() === caller.email.toLowerCase()
    : bound === caller.userId;
  if (caller.role !== "candidate" || tenantId !== caller.tenantId || !mine) {
    throw forbidden("this interview belongs to someone else");
  }
  const status = text(row, "status");
  if (!OPEN_STATUSES.includes(status)) {
    throw new FunctionError(409, "interview_closed", `this interview is ${status}`);
  }
  // Checked last, so a caller who may not start it learns nothing more from this answer.
  if (text(row, "mode") === "interview" && !bool(row, "consented") && consentNotice === null) {
    throw new FunctionError(
      403,
      "consent_required",
      "the candidate has not agreed to the recording notice; show it, then start again with their consent",
    );
  }
  // The first agreement stays: a later call's notice does not replace it.
  const updated = first(
    await tx`
      update public.interview_sessions
         set status = 'active', started_at = coalesce(started_at, now()),
             candidate_id = ${caller.userId}, closed_at = null,
             consent_at = coalesce(consent_at, case when ${consentNotice}::text is not null then now() end),
             consent_notice = coalesce(consent_notice, ${consentNotice})
       where id = ${interviewId}
         and (candidate_id is null or candidate_id = ${caller.userId})
      returning started_at`,
  );
  if (updated === null) {
    throw new FunctionError(409, "interview_taken", "another user has started this interview");
  }
  const api = voiceApi(textOrNull(row, "voice_api"));
  if (api === null) throw new Error("the interview has no voice API");
  return {
    id: interviewId,
    tenantId,
    startedAt: time(updated, "started_at"),
    questionSet: text(row, "question_set"),
    api,
    voiceEnabled: bool(row, "voice_enabled"),
    voicePercent: int(row, "voice_rollout_percent"),
  };
}

/** The voice grant: a minted Realtime client secret, or the SDP proxy's signalling grant. */
async function grant(s: Services, opened: Opened): Promise<JsonObject> {
  const { config } = s;
  if (opened.api === "live") {
    if (config.proxyUrl === null) {
      console.error("interview-start: VIVA_PROXY_URL is not set; no GPT-Live grant can be given");
      throw new FunctionError(503, "voice_unavailable", "voice is not available right now");
    }
    // The proxy creates the Live session with the project key: no key and no session here.
    return {
      api: "live",
      signaling: "websocket",
      url: config.proxyUrl,
      client_secret: { value: "", expires_at: Math.floor(Date.now() / 1000) + CLIENT_SECRET_TTL_S },
      model: config.liveModel,
    };
  }
  const session = realtimeSession(config, opened.questionSet);
  const secret = await mintClientSecret(config, session, s.fetch);
  return {
    api: "realtime",
    signaling: "http",
    url: `${config.openaiBaseUrl}/v1/realtime/calls`,
    client_secret: secret,
    model: config.realtimeModel,
    session,
  };
}

export function makeHandler(env: Env, deps: Deps = {}): (req: Request) => Promise<Response> {
  const s = services(env, deps);
  return serveJson("interview-start", async (req) => {
    const caller = await s.verify(req);
    const request = parseRequest(await readObject(req));
    const reply = await s.sql.begin(async (tx) => {
      const opened = request.interviewId === null
        ? await startPractice(tx, caller, request, s.config.practiceSessionsPerHour)
        : await startInterview(tx, caller, request.interviewId, request.consentNotice);
      // Minted inside the transaction: a provider failure leaves nothing changed.
      const realtime = await grant(s, opened);
      return {
        session: {
          id: opened.id,
          tenant_id: opened.tenantId,
          status: "active",
          started_at: opened.startedAt.toISOString(),
          max_duration_s: MAX_DURATION_S,
        },
        mode: rolloutMode(caller.userId, opened.voiceEnabled, opened.voicePercent),
        realtime,
      };
    });
    return json(reply);
  });
}
