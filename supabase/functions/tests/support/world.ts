// The contract suite's worlds (supabase/functions/tests/contract.json): tenants, users and
// sessions seeded as the superuser into a fresh database, tokens minted for the users, the
// three handlers built in-process on that database, and the suite's patterns.

import { makeHandler as interviewEnd } from "../../interview-end/handler.ts";
import { makeHandler as interviewStart } from "../../interview-start/handler.ts";
import { makeHandler as transcriptProcessor } from "../../transcript-processor/handler.ts";
import type { Env } from "../../_shared/config.ts";
import { claimsOf, FakeUpstream, type KeyPair, keyPair, OPENAI_KEY, sign } from "./fakes.ts";
import { type Cluster, connect, dbUrl, type Sql } from "./pg.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface WorldSpec {
  limits?: { practice_sessions_per_hour?: number };
  tenants: Record<
    string,
    { voice_api?: string; voice_enabled?: boolean; voice_rollout_percent?: number }
  >;
  users: Record<string, { tenant: string; role: string; id?: string }>;
  sessions?: Record<string, {
    tenant: string;
    candidate?: string;
    candidate_email?: string;
    status?: string;
    mode?: string;
    question_set?: string;
    voice_api?: string;
    closed_minutes_ago?: number;
  }>;
}

export type FunctionName = "interview-start" | "transcript-processor" | "interview-end";
export type TokenKind =
  | "valid"
  | "none"
  | "expired"
  | "wrong_audience"
  | "bad_signature"
  | "garbage";

export interface Step {
  call: FunctionName;
  as?: string;
  token?: TokenKind;
  body?: Json;
  raw_body?: string;
  repeat?: number;
  expect: { status: number; body?: Json; headers?: Record<string, Json> };
  expect_session?: { session: string; row: Json };
  expect_lines?: { session: string; lines: Json[] };
}

export interface Case {
  name: string;
  world: WorldSpec;
  steps: Step[];
}

/** What the functions are configured with besides the database (the contract's world). */
export const PROXY_URL = "wss://proxy.viva.test/ws";

const CLOSED = ["completed", "interrupted", "failed", "cancelled"];

/** The shared pieces: the fake Auth + OpenAI upstream and the world's signing key. */
export class Upstream {
  readonly fake = new FakeUpstream();
  key: KeyPair | null = null;
  /** A key that is not published, under the published key's id (a forged signature). */
  forger: KeyPair | null = null;

  async start(): Promise<void> {
    await this.fake.start();
    this.key = await keyPair("ES256", "world-es256");
    this.forger = await keyPair("ES256", "world-es256");
    this.fake.published = [this.key];
  }

  signingKey(): KeyPair {
    if (this.key === null) throw new Error("the upstream is not started");
    return this.key;
  }

  forgingKey(): KeyPair {
    if (this.forger === null) throw new Error("the upstream is not started");
    return this.forger;
  }

  async close(): Promise<void> {
    await this.fake.close();
  }
}

interface User {
  id: string;
  email: string;
  tenant: string;
  role: string;
}

/** One seeded world: its database, its ids and its handlers. */
export class World {
  readonly ids = new Map<string, string>();
  readonly users = new Map<string, User>();
  readonly handlers: Record<FunctionName, (req: Request) => Promise<Response>>;
  private constructor(
    readonly spec: WorldSpec,
    readonly database: string,
    readonly sql: Sql,
    readonly upstream: Upstream,
    env: Env,
  ) {
    const deps = { sql, verifier: { jwksCooldownMs: 0 } };
    this.handlers = {
      "interview-start": interviewStart(env, deps),
      "transcript-processor": transcriptProcessor(env, deps),
      "interview-end": interviewEnd(env, deps),
    };
  }

  static async create(
    cluster: Cluster,
    upstream: Upstream,
    spec: WorldSpec,
    overrides: Env = {},
  ): Promise<World> {
    const database = await cluster.database();
    const sql = connect(database);
    const env: Env = {
      SUPABASE_URL: upstream.fake.url,
      SUPABASE_DB_URL: dbUrl(database),
      OPENAI_API_KEY: OPENAI_KEY,
      VIVA_OPENAI_BASE_URL: upstream.fake.url,
      VIVA_PROXY_URL: PROXY_URL,
      VIVA_PRACTICE_SESSIONS_PER_HOUR: spec.limits?.practice_sessions_per_hour === undefined
        ? undefined
        : String(spec.limits.practice_sessions_per_hour),
      ...overrides,
    };
    const world = new World(spec, database, sql, upstream, env);
    await world.seed();
    return world;
  }

  async close(): Promise<void> {
    await this.sql.end();
  }

  id(name: string): string {
    const id = this.ids.get(name);
    if (id === undefined) throw new Error(`the world has no tenant, user or session "${name}"`);
    return id;
  }

  user(name: string): User {
    const user = this.users.get(name);
    if (user === undefined) throw new Error(`the world has no user "${name}"`);
    return user;
  }

  private async seed(): Promise<void> {
    const { tenants, users, sessions = {} } = this.spec;
    for (const [name, tenant] of Object.entries(tenants)) {
      const id = crypto.randomUUID();
      this.ids.set(name, id);
      await this.sql`
        insert into public.tenants (id, name, voice_api, voice_enabled, voice_rollout_percent)
        values (${id}, ${name}, ${tenant.voice_api ?? "live"}, ${tenant.voice_enabled ?? true},
                ${tenant.voice_rollout_percent ?? 100})`;
    }
    for (const [name, user] of Object.entries(users)) {
      const id = user.id ?? crypto.randomUUID();
      this.ids.set(name, id);
      this.users.set(name, {
        id,
        email: `${name}@${user.tenant}.test`,
        tenant: this.id(user.tenant),
        role: user.role,
      });
    }
    for (const [name, session] of Object.entries(sessions)) {
      const id = crypto.randomUUID();
      this.ids.set(name, id);
      const status = session.status ?? "scheduled";
      const email = session.candidate_email === undefined
        ? null
        : session.candidate_email.includes("@")
        ? session.candidate_email
        : this.user(session.candidate_email).email;
      // Every status but scheduled and cancelled has been started.
      const started = !["scheduled", "cancelled"].includes(status);
      const closedAgo = CLOSED.includes(status) ? session.closed_minutes_ago ?? 1 : null;
      await this.sql`
        insert into public.interview_sessions
          (id, tenant_id, candidate_id, candidate_email, title, question_set, mode, status,
           voice_api, started_at, ended_at, closed_at)
        values (${id}, ${this.id(session.tenant)},
                ${session.candidate === undefined ? null : this.user(session.candidate).id},
                ${email}, ${name}, ${session.question_set ?? "software_engineer"},
                ${session.mode ?? "interview"}, ${status}, ${session.voice_api ?? null},
                case when ${started} then now() - interval '5 minutes' end,
                now() - make_interval(mins => ${closedAgo}::int),
                now() - make_interval(mins => ${closedAgo}::int))`;
    }
  }

  /** A token of `kind` for user `name` (none: no Authorization header). */
  async token(name: string | undefined, kind: TokenKind = "valid"): Promise<string | null> {
    if (kind === "none") return null;
    if (kind === "garbage") return "this-is-not-a-token";
    if (name === undefined) throw new Error(`a "${kind}" token needs "as"`);
    const user = this.user(name);
    const claims = claimsOf(
      { sub: user.id, email: user.email, tenant: user.tenant, role: user.role },
      this.upstream.fake.url,
    );
    if (kind === "expired") {
      claims.exp = Math.floor(Date.now() / 1000) - 60;
      claims.iat = Math.floor(Date.now() / 1000) - 3660;
    }
    if (kind === "wrong_audience") claims.aud = "anon";
    const key = kind === "bad_signature" ? this.upstream.forgingKey() : this.upstream.signingKey();
    return await sign(claims, key);
  }

  /** Replaces "{x}", "{x.id}" and "{x.email}" with the world's values. */
  substitute(value: Json): Json {
    if (typeof value === "string") {
      const match = /^\{([A-Za-z0-9_-]+)(?:\.(id|email))?\}$/.exec(value);
      if (match === null || match[1] === undefined) return value;
      return match[2] === "email" ? this.user(match[1]).email : this.id(match[1]);
    }
    if (Array.isArray(value)) return value.map((v) => this.substitute(v));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, this.substitute(v)]),
      );
    }
    return value;
  }

  async call(step: Step): Promise<Response> {
    const headers = new Headers({ "content-type": "application/json", apikey: "anon-key" });
    const token = await this.token(step.as, step.token ?? "valid");
    if (token !== null) headers.set("authorization", `Bearer ${token}`);
    const body = step.raw_body ??
      (step.body === undefined ? "" : JSON.stringify(this.substitute(step.body)));
    const req = new Request(`http://functions.test/functions/v1/${step.call}`, {
      method: "POST",
      headers,
      body,
    });
    return await this.handlers[step.call](req);
  }

  async sessionRow(name: string): Promise<Json> {
    const rows = await this.sql`
      select jsonb_build_object(
        'status', status, 'candidate_id', candidate_id, 'tenant_id', tenant_id,
        'started_at', started_at, 'ended_at', ended_at, 'closed_at', closed_at,
        'duration_ms', duration_ms, 'mode', mode, 'voice_api', voice_api,
        'realtime_cost_usd', realtime_cost_usd, 'candidate_email', candidate_email,
        'consent_at', consent_at, 'consent_notice', consent_notice) as row
        from public.interview_sessions where id = ${this.id(name)}`;
    return (rows[0]?.row ?? null) as Json;
  }

  async lines(name: string): Promise<Json[]> {
    const rows = await this.sql`
      select jsonb_build_object(
        'item_id', item_id, 'seq', seq, 'speaker', speaker, 'text', text,
        'started_ms', started_ms, 'ended_ms', ended_ms, 'reported_by', reported_by,
        'late', late, 'tenant_id', tenant_id) as line
        from public.transcript_entries where session_id = ${this.id(name)}
       order by seq, item_id`;
    return rows.map((r) => r.line as Json);
  }
}

/** Where `actual` departs from `pattern` (empty: it matches). */
export function mismatches(pattern: Json, actual: Json | undefined, path = "$"): string[] {
  const show = (v: Json | undefined) => (v === undefined ? "missing" : JSON.stringify(v));
  if (pattern !== null && typeof pattern === "object" && !Array.isArray(pattern)) {
    if (pattern.$any === true) {
      return actual === undefined || actual === null
        ? [`${path}: expected a value, got ${show(actual)}`]
        : [];
    }
    if (pattern.$absent === true) {
      return actual === undefined || actual === null
        ? []
        : [`${path}: expected nothing, got ${show(actual)}`];
    }
    if (typeof pattern.$prefix === "string") {
      return typeof actual === "string" && actual.startsWith(pattern.$prefix) ? [] : [
        `${path}: expected a string starting ${JSON.stringify(pattern.$prefix)}, got ${
          show(actual)
        }`,
      ];
    }
    if (typeof pattern.$suffix === "string") {
      return typeof actual === "string" && actual.endsWith(pattern.$suffix) ? [] : [
        `${path}: expected a string ending ${JSON.stringify(pattern.$suffix)}, got ${show(actual)}`,
      ];
    }
    if (typeof pattern.$int_gt === "number") {
      const number = typeof actual === "string" && /^-?\d+$/.test(actual) ? Number(actual) : actual;
      return typeof number === "number" && Number.isInteger(number) && number > pattern.$int_gt
        ? []
        : [`${path}: expected a whole number > ${pattern.$int_gt}, got ${show(actual)}`];
    }
    if (
      actual === null || actual === undefined || typeof actual !== "object" || Array.isArray(actual)
    ) {
      return [`${path}: expected an object, got ${show(actual)}`];
    }
    return Object.entries(pattern).flatMap(([key, sub]) =>
      mismatches(sub, actual[key], `${path}.${key}`)
    );
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${show(actual)}`];
    if (actual.length !== pattern.length) {
      return [
        `${path}: expected ${pattern.length} elements, got ${actual.length}: ${show(actual)}`,
      ];
    }
    return pattern.flatMap((sub, i) => mismatches(sub, actual[i], `${path}[${i}]`));
  }
  if (typeof pattern === "number") {
    const number = typeof actual === "string" && actual.trim() !== "" ? Number(actual) : actual;
    return number === pattern ? [] : [`${path}: expected ${pattern}, got ${show(actual)}`];
  }
  return pattern === actual ? [] : [`${path}: expected ${show(pattern)}, got ${show(actual)}`];
}
