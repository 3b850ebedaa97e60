// docs/deploying.md, run. Every fenced block of the guide carries a marker on the line above it:
// `<!-- tested: <file> <name> -->` (a test runs it) or `<!-- not runnable here: <why> -->`; a
// block without one fails here, so nothing untested slips into the guide. The blocks marked
// for this file run in the guide's order against a fresh database that has only what a new
// hosted project has (the shim's roles and auth.jwt()): the pinned Supabase CLI pushes the
// migrations (twice: the second has nothing to do), then every SQL block runs as the SQL editor
// would (the superuser), with the guide's placeholders filled in, and each one's effect is
// checked — on the rows, and on what the real functions then answer (in-process, on that
// database, with tokens from a fake Auth and a fake OpenAI). The guide's tables and commands
// are also held to the code: the secrets to _shared/config.ts, the deployed functions to
// supabase/functions and config.toml, `viva admin` to crates/cli/tests/admin.rs, the local
// stack's switches to its binary.

import assert from "node:assert/strict";

import postgres from "postgres";

import { makeHandler as interviewEnd } from "../interview-end/handler.ts";
import { makeHandler as interviewStart } from "../interview-start/handler.ts";
import { makeHandler as transcriptProcessor } from "../transcript-processor/handler.ts";
import type { Env } from "../_shared/config.ts";
import { rolloutBucket } from "../_shared/rollout.ts";
import { claimsOf, OPENAI_KEY, sign } from "./support/fakes.ts";
import { connect, dbUrl, migrations, type Sql } from "./support/pg.ts";
import { Upstream } from "./support/world.ts";

const ROOT = new URL("../../../", import.meta.url);
const GUIDE = new URL("docs/deploying.md", ROOT);
const THIS_FILE = "supabase/functions/tests/deploying_test.ts";
const SHIM = new URL("crates/localstack/tests/fixtures/supabase_shim.sql", ROOT);
const PINNED_BIN = new URL("tools/deno/node_modules/.bin", ROOT);

const opts = { sanitizeOps: false, sanitizeResources: false };

// ---------------------------------------------------------------------------------------------
// Reading the guide

type Marker =
  | { kind: "tested"; file: string; name: string }
  | { kind: "not_runnable"; reason: string };

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
  marker: Marker | null;
}

const FENCE = /^\s*(`{3,}|~{3,})\s*([A-Za-z0-9_-]*)\s*$/;
const TESTED = /^\s*<!--\s*tested:\s*(\S+)\s+(\S+)\s*-->\s*$/;
const NOT_RUNNABLE = /^\s*<!--\s*not runnable here:\s*(\S.*?)\s*-->\s*$/;
/** A placeholder the reader fills in: `<tenant-id>`, `<organisation name>`. */
const PLACEHOLDER = /<[a-z][a-z0-9-]*(?: [a-z0-9-]+)*>/g;

function markerOf(line: string | undefined): Marker | null {
  if (line === undefined) return null;
  const tested = TESTED.exec(line);
  if (tested !== null && tested[1] !== undefined && tested[2] !== undefined) {
    return { kind: "tested", file: tested[1], name: tested[2] };
  }
  const not = NOT_RUNNABLE.exec(line);
  if (not !== null && not[1] !== undefined) return { kind: "not_runnable", reason: not[1] };
  return null;
}

/** The guide's fenced blocks, each with the marker on the line above its opening fence. */
function readBlocks(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let open: { line: number; fence: string; lang: string; indent: number; body: string[] } | null =
    null;
  lines.forEach((line, index) => {
    const fence = FENCE.exec(line);
    if (open === null) {
      if (fence === null || fence[1] === undefined) return;
      open = {
        line: index + 1,
        fence: fence[1],
        lang: fence[2] ?? "",
        indent: line.length - line.trimStart().length,
        body: [],
      };
      return;
    }
    if (
      fence !== null && fence[1] !== undefined && fence[2] === "" &&
      fence[1][0] === open.fence[0] && fence[1].length >= open.fence.length
    ) {
      blocks.push({
        line: open.line,
        lang: open.lang,
        body: open.body.join("\n"),
        marker: markerOf(lines[open.line - 2]),
      });
      open = null;
      return;
    }
    open.body.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)));
  });
  if (open !== null) {
    throw new Error(`the block opened on line ${(open as { line: number }).line} never closes`);
  }
  return blocks;
}

const guideText = await Deno.readTextFile(GUIDE);
const guide = readBlocks(guideText);

function fill(body: string, values: ReadonlyMap<string, string>): string {
  return body.replace(PLACEHOLDER, (name) => {
    const value = values.get(name);
    if (value === undefined) throw new Error(`the guide uses ${name}, which this test cannot fill`);
    return value;
  });
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Running it: the world a deployment builds, one check per block marked for this file

interface Ctx {
  database: string;
  /** The superuser: the SQL editor. */
  sql: Sql;
  /** The functions' own pool (the role SUPABASE_DB_URL names on a hosted project). */
  functionsSql: Sql;
  /** A role that is not a member of `authenticated`, and its pool. */
  outsider: { name: string; sql: Sql | null };
  upstream: Upstream;
  env: Env;
  shellEnv: Record<string, string>;
  values: Map<string, string>;
  ids: Map<string, string>;
  start: (req: Request) => Promise<Response>;
  upload: (req: Request) => Promise<Response>;
  end: (req: Request) => Promise<Response>;
}

interface Shell {
  code: number;
  out: string;
}

interface Check {
  lang: "sh" | "sql";
  before?: (ctx: Ctx) => Promise<void>;
  after: (ctx: Ctx, result: Shell | postgres.RowList<postgres.Row[]>) => Promise<void> | void;
}

const decoder = new TextDecoder();

async function sh(script: string, env: Record<string, string>): Promise<Shell> {
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-eu", "-c", script],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

function shell(result: Shell | postgres.RowList<postgres.Row[]>): Shell {
  if (!("code" in result)) throw new Error("expected a shell block");
  assert.equal(result.code, 0, `the block failed:\n${result.out}`);
  return result;
}

function rows(result: Shell | postgres.RowList<postgres.Row[]>): postgres.Row[] {
  if ("code" in result) throw new Error("expected a SQL block");
  return [...result];
}

function id(ctx: Ctx, name: string): string {
  const value = ctx.ids.get(name);
  if (value === undefined) throw new Error(`no ${name} yet: a block ran out of order`);
  return value;
}

const USERS = {
  interviewer: { email: "interviewer@deploying.test", role: "interviewer" },
  candidate: { email: "candidate@deploying.test", role: "candidate" },
  early: { email: "early@deploying.test", role: "candidate" },
  late: { email: "late@deploying.test", role: "candidate" },
} as const;
type UserName = keyof typeof USERS;

async function token(ctx: Ctx, user: UserName): Promise<string> {
  const claims = claimsOf(
    {
      sub: id(ctx, user),
      email: USERS[user].email,
      tenant: id(ctx, "tenant"),
      role: USERS[user].role,
    },
    ctx.upstream.fake.url,
  );
  return await sign(claims, ctx.upstream.signingKey());
}

async function call(
  handler: (req: Request) => Promise<Response>,
  bearer: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await handler(
    new Request("http://functions.test/", {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  return { status: response.status, body: await response.json() };
}

async function practice(ctx: Ctx, user: UserName): Promise<Record<string, unknown>> {
  const reply = await call(ctx.start, await token(ctx, user), { mode: "practice", client: {} });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body;
}

async function tenantRow(ctx: Ctx): Promise<postgres.Row> {
  const [row] = await ctx.sql`
    select voice_api, voice_enabled, voice_rollout_percent from public.tenants
     where id = ${id(ctx, "tenant")}`;
  if (row === undefined) throw new Error("the tenant is gone");
  return row;
}

async function sessionStatus(ctx: Ctx, session: string): Promise<string> {
  const [row] = await ctx.sql`select status from public.interview_sessions where id = ${session}`;
  return String(row?.status);
}

/** A user id whose rollout bucket `wanted` accepts. */
function userInBucket(wanted: (bucket: number) => boolean): string {
  for (;;) {
    const candidate = crypto.randomUUID();
    if (wanted(rolloutBucket(candidate))) return candidate;
  }
}

const LINES = [
  {
    item_id: "deploying#0",
    seq: 0,
    speaker: "interviewer",
    text: "Tell me about a system you built.",
    started_ms: 0,
    ended_ms: 2100,
  },
  {
    item_id: "deploying#1",
    seq: 1,
    speaker: "candidate",
    text: "A desktop client that keeps every line on disk first.",
    started_ms: 2600,
    ended_ms: 6900,
  },
];

const CHECKS: Record<string, Check> = {
  cli: {
    lang: "sh",
    after: async (_ctx, result) => {
      const { out } = shell(result);
      const pins = JSON.parse(await Deno.readTextFile(new URL("tools/deno/package.json", ROOT)));
      const version = String(pins.devDependencies.supabase);
      assert.match(out, new RegExp(`^${version.replaceAll(".", "\\.")}$`, "m"), out);
      assert.ok(guideText.includes(`It prints \`${version}\`.`), "the guide names another version");
    },
  },
  push: {
    lang: "sh",
    after: async (ctx, result) => {
      const { out } = shell(result);
      const files = (await migrations()).map((url) => url.pathname.split("/").pop() ?? "");
      assert.match(out, /DRY RUN/);
      for (const file of files) {
        assert.ok(out.includes(`Applying migration ${file}`), `${file} was not applied:\n${out}`);
      }
      const applied = await ctx.sql`
        select version from supabase_migrations.schema_migrations order by version`;
      assert.deepEqual(
        applied.map((r) => r.version),
        files.map((f) => f.split("_")[0]),
      );
      const [tables] = await ctx.sql`
        select count(*)::int as n from information_schema.tables
         where table_schema = 'public'
           and table_name in ('tenants', 'interview_sessions', 'transcript_entries')`;
      assert.equal(tables?.n, 3);
      // The guide: pushing again is safe and says so.
      const block = guide.find((b) => b.marker?.kind === "tested" && b.marker.name === "push");
      if (block === undefined) throw new Error("no push block");
      const again = shell(await sh(block.body, ctx.shellEnv));
      assert.match(again.out, /Remote database is up to date\./, again.out);
      assert.doesNotMatch(again.out, /Applying migration/, again.out);
      assert.ok(guideText.includes("`Remote database is up to date.`"));
    },
  },
  "migration-list": {
    lang: "sh",
    after: async (_ctx, result) => {
      const { out } = shell(result);
      const both = new Set<string>();
      for (const line of out.split("\n")) {
        const pair = /`?(\d{14})`?\s*\|\s*`?(\d{14})`?/.exec(line);
        if (pair !== null && pair[1] === pair[2] && pair[1] !== undefined) both.add(pair[1]);
      }
      for (const file of await migrations()) {
        const version = (file.pathname.split("/").pop() ?? "").split("_")[0] ?? "";
        assert.ok(both.has(version), `${version} is not on both sides:\n${out}`);
      }
    },
  },
  "role-check": {
    lang: "sql",
    after: async (ctx, result) => {
      assert.deepEqual(rows(result), [{ current_user: "postgres", acts_as_users: true }]);
      // A role that is not a member: the check says false, and acting as a user fails, as the
      // guide warns.
      const outsider = ctx.outsider.sql;
      if (outsider === null) throw new Error("no outsider pool");
      const block = guide.find((b) =>
        b.marker?.kind === "tested" && b.marker.name === "role-check"
      );
      if (block === undefined) throw new Error("no role-check block");
      const [seen] = await outsider.unsafe(block.body);
      assert.equal(seen?.acts_as_users, false);
      await assert.rejects(
        outsider.begin(async (tx) => {
          await tx`set local role authenticated`;
        }),
        (error: unknown) => error instanceof postgres.PostgresError && error.code === "42501",
      );
    },
  },
  tenant: {
    lang: "sql",
    after: async (ctx, result) => {
      const [row] = rows(result);
      const tenant = String(row?.id);
      assert.match(tenant, /^[0-9a-f-]{36}$/);
      ctx.ids.set("tenant", tenant);
      ctx.values.set("<tenant-id>", tenant);
      const [named] = await ctx.sql`select name from public.tenants where id = ${tenant}`;
      assert.equal(named?.name, ctx.values.get("<organisation name>"));
      // A new organisation speaks GPT-Live with voice on for everyone.
      assert.deepEqual({ ...(await tenantRow(ctx)) }, {
        voice_api: "live",
        voice_enabled: true,
        voice_rollout_percent: 100,
      });
    },
  },
  realtime: {
    lang: "sql",
    before: async (ctx) => {
      // The interviewer schedules an interview, as the app does through PostgREST.
      const claims = claimsOf({
        sub: id(ctx, "interviewer"),
        email: USERS.interviewer.email,
        tenant: id(ctx, "tenant"),
        role: "interviewer",
      }, ctx.upstream.fake.url);
      const interview = await ctx.sql.begin(async (tx) => {
        await tx`set local role authenticated`;
        await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
        const [row] = await tx`
          insert into public.interview_sessions (title, question_set, scheduled_at, candidate_email)
          values ('First interview', 'software_engineer', now() + interval '1 hour',
                  ${USERS.candidate.email})
          returning id`;
        return String(row?.id);
      });
      ctx.ids.set("interview", interview);
      // On GPT-Live, with no proxy for a hosted project, the candidate's Join is refused and
      // nothing changes.
      const refused = await call(ctx.start, await token(ctx, "candidate"), {
        mode: "interview",
        interview_id: interview,
        consent: { notice: "viva-2026-12" },
        client: {},
      });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.code, "voice_unavailable");
      assert.equal(await sessionStatus(ctx, interview), "scheduled");
    },
    after: async (ctx) => {
      assert.equal((await tenantRow(ctx)).voice_api, "realtime");
      const joined = await call(ctx.start, await token(ctx, "candidate"), {
        mode: "interview",
        interview_id: id(ctx, "interview"),
        consent: { notice: "viva-2026-12" },
        client: {},
      });
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      assert.equal(joined.body.mode, "voice");
      const grant = joined.body.realtime as Record<string, unknown>;
      assert.equal(grant.api, "realtime");
      assert.equal(grant.url, `${ctx.upstream.fake.url}/v1/realtime/calls`);
      assert.match(String((grant.client_secret as Record<string, unknown>).value), /^ek_/);
      assert.equal(await sessionStatus(ctx, id(ctx, "interview")), "active");
    },
  },
  tenants: {
    lang: "sql",
    after: (ctx, result) => {
      assert.deepEqual(rows(result).map((r) => ({ ...r })), [{
        id: id(ctx, "tenant"),
        name: ctx.values.get("<organisation name>"),
        voice_api: "realtime",
        voice_enabled: true,
        voice_rollout_percent: 100,
      }]);
    },
  },
  "voice-off": {
    lang: "sql",
    after: async (ctx) => {
      assert.equal((await tenantRow(ctx)).voice_enabled, false);
      // Everyone types; the grant still connects the call.
      for (const user of ["candidate", "early", "late"] as const) {
        const reply = await practice(ctx, user);
        assert.equal(reply.mode, "text", user);
        assert.equal((reply.realtime as Record<string, unknown>).api, "realtime");
      }
    },
  },
  "voice-share": {
    lang: "sql",
    after: async (ctx) => {
      const row = await tenantRow(ctx);
      assert.equal(row.voice_enabled, true);
      assert.equal(row.voice_rollout_percent, 10);
      assert.equal((await practice(ctx, "early")).mode, "voice");
      assert.equal((await practice(ctx, "late")).mode, "text");
    },
  },
  "voice-everyone": {
    lang: "sql",
    after: async (ctx) => {
      assert.equal((await tenantRow(ctx)).voice_rollout_percent, 100);
      assert.equal((await practice(ctx, "late")).mode, "voice");
    },
  },
  "first-interview": {
    lang: "sql",
    before: async (ctx) => {
      const interview = id(ctx, "interview");
      const bearer = await token(ctx, "candidate");
      // With a database role that is not a member of `authenticated`, uploads and closes fail
      // with 500 (a set-up fault, logged, never a 403 the user would read as "not yours"), as
      // the guide says, and nothing is stored.
      const outsider = ctx.outsider.sql;
      if (outsider === null) throw new Error("no outsider pool");
      const deps = { sql: outsider, verifier: { jwksCooldownMs: 0 } };
      const env = { ...ctx.env, SUPABASE_DB_URL: "postgres://unused" };
      const upload = await call(transcriptProcessor(env, deps), bearer, {
        session_id: interview,
        entries: LINES,
      });
      assert.deepEqual([upload.status, upload.body.code], [500, "internal_error"]);
      const close = await call(interviewEnd(env, deps), bearer, {
        session_id: interview,
        status: "completed",
        ended_at: new Date().toISOString(),
      });
      assert.deepEqual([close.status, close.body.code], [500, "internal_error"]);
      assert.equal(await sessionStatus(ctx, interview), "active");
      // The candidate's app uploads the lines and ends the interview.
      const stored = await call(ctx.upload, bearer, { session_id: interview, entries: LINES });
      assert.equal(stored.status, 200, JSON.stringify(stored.body));
      assert.deepEqual(stored.body, { accepted: 2, duplicates: 0, rejected: [] });
      const ended = await call(ctx.end, bearer, {
        session_id: interview,
        status: "completed",
        ended_at: new Date().toISOString(),
        duration_ms: 61_000,
      });
      assert.deepEqual([ended.status, ended.body], [200, { closed: true }]);
    },
    after: (ctx, result) => {
      const found = rows(result);
      assert.equal(found.length, 1, JSON.stringify(found));
      const [row] = found;
      assert.equal(row?.id, id(ctx, "interview"));
      assert.equal(row?.title, "First interview");
      assert.equal(row?.status, "completed");
      assert.equal(Number(row?.lines), 2);
      assert.equal(Number(row?.late_lines), 0);
      assert.ok(row?.started_at instanceof Date && row?.ended_at instanceof Date);
    },
  },
  stuck: {
    lang: "sql",
    before: async (ctx) => {
      const [row] = await ctx.sql`
        insert into public.interview_sessions
          (tenant_id, candidate_id, candidate_email, title, question_set, mode, status, started_at)
        values (${id(ctx, "tenant")}, ${id(ctx, "candidate")}, ${USERS.candidate.email},
                'Left open', 'general_behavioural', 'practice', 'active',
                now() - interval '3 hours')
        returning id`;
      ctx.ids.set("stuck", String(row?.id));
    },
    after: (ctx, result) => {
      // Only the one left open for hours: not the practice runs just started, not the
      // completed interview.
      assert.deepEqual(rows(result).map((r) => r.id), [id(ctx, "stuck")]);
    },
  },
};

// ---------------------------------------------------------------------------------------------
// The guide against the code

Deno.test("deploying: every command block says which test runs it, or why none can", async () => {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const block of guide) {
    const where = `docs/deploying.md:${block.line}`;
    if (block.marker === null) {
      problems.push(
        `${where}: a \`\`\`${block.lang} block with no marker on the line above; add ` +
          "<!-- tested: <file> <name> --> or <!-- not runnable here: <why> -->",
      );
      continue;
    }
    if (block.marker.kind === "not_runnable") continue;
    const { file, name } = block.marker;
    if (file === THIS_FILE) {
      const check = CHECKS[name];
      if (check === undefined) {
        problems.push(`${where}: ${THIS_FILE} has no check "${name}"`);
      } else if (check.lang !== block.lang) {
        problems.push(
          `${where}: the check "${name}" runs ${check.lang}, the block is ${block.lang}`,
        );
      }
      seen.set(name, (seen.get(name) ?? 0) + 1);
      continue;
    }
    const url = new URL(file, ROOT);
    if (file.startsWith("/") || file.includes("..") || !(await exists(url))) {
      problems.push(`${where}: ${file} is not a file of this repository`);
    } else if (!(await Deno.readTextFile(url)).includes(name)) {
      problems.push(`${where}: ${file} has no test "${name}"`);
    }
  }
  for (const name of Object.keys(CHECKS)) {
    const count = seen.get(name) ?? 0;
    if (count !== 1) problems.push(`the check "${name}" has ${count} blocks in the guide, not 1`);
  }
  assert.deepEqual(problems, []);
  assert.ok(guide.length >= 20, `only ${guide.length} blocks found: is the parser broken?`);
});

Deno.test("deploying: the secrets table lists every setting of _shared/config.ts with its default", async () => {
  const config = await Deno.readTextFile(new URL("supabase/functions/_shared/config.ts", ROOT));
  const settings = new Map<string, string | null>();
  for (
    const match of config.matchAll(
      /\b(optional|withDefault)\(\s*env,\s*"([A-Z0-9_]+)"(?:,\s*"([^"]*)")?/g,
    )
  ) {
    const [, kind, name, fallback] = match;
    if (name === undefined) continue;
    settings.set(name, kind === "withDefault" ? fallback ?? null : null);
  }
  assert.ok(settings.size >= 10, `only ${settings.size} settings read from config.ts`);
  // The functions' secrets are step 3's; the proxy's own settings (step 5) are checked against
  // its binary by crates/proxy/tests/deploy.rs.
  const functionsStep = guideText.slice(
    guideText.indexOf("## 3. "),
    guideText.indexOf("## 4. "),
  );
  const rowsOfTable = new Map<string, string>();
  for (const line of functionsStep.split("\n")) {
    const row = /^\| `([A-Z0-9_]+)` \|/.exec(line);
    if (row?.[1] !== undefined) rowsOfTable.set(row[1], line);
  }
  for (const [name, fallback] of settings) {
    const row = rowsOfTable.get(name);
    assert.ok(row !== undefined, `the secrets table has no row for ${name}`);
    if (fallback !== null) {
      assert.ok(
        row.includes(`\`${fallback}\``),
        `${name}'s row does not give its default ${fallback}`,
      );
    }
  }
  for (const name of rowsOfTable.keys()) {
    assert.ok(
      settings.has(name),
      `the secrets table lists ${name}, which the functions never read`,
    );
  }
});

Deno.test("deploying: the guide deploys exactly the functions there are, each with verify_jwt off", async () => {
  const functions: string[] = [];
  for await (const entry of Deno.readDir(new URL("supabase/functions/", ROOT))) {
    if (
      entry.isDirectory && !entry.name.startsWith("_") &&
      await exists(new URL(`supabase/functions/${entry.name}/index.ts`, ROOT))
    ) {
      functions.push(entry.name);
    }
  }
  functions.sort();
  assert.ok(functions.length >= 3, functions.join(", "));
  const toml = await Deno.readTextFile(new URL("supabase/config.toml", ROOT));
  for (const name of functions) {
    const section = new RegExp(
      `^\\[functions\\.${name}\\]\\n(?:[^\\[].*\\n)*?verify_jwt = false$`,
      "m",
    );
    assert.match(toml, section, `config.toml does not turn verify_jwt off for ${name}`);
  }
  const deploys = guide.flatMap((b) => b.body.split("\n"))
    .filter((line) => line.trim().startsWith("supabase functions deploy"));
  assert.ok(deploys.length >= 2, "the guide has no deploy commands");
  for (const line of deploys) {
    const named = line.trim().split(/\s+/).slice(3).filter((word) => !word.startsWith("-")).sort();
    assert.deepEqual(named, functions, line);
  }
});

Deno.test("deploying: viva admin is invoked as crates/cli/tests/admin.rs runs it", async () => {
  const test = await Deno.readTextFile(new URL("crates/cli/tests/admin.rs", ROOT));
  for (
    const piece of [
      `["admin", "--backend"`,
      `"set-member"`,
      `"show"`,
      `"--email"`,
      `"--tenant"`,
      `"--role"`,
    ]
  ) {
    assert.ok(test.includes(piece), `admin.rs no longer runs ${piece}`);
  }
  const lines = guide.flatMap((b) => b.body.split("\n"))
    .map((line) => line.trim().replace(PLACEHOLDER, "X"))
    .filter((line) => line.startsWith("viva admin"));
  assert.ok(lines.length >= 3);
  const shape =
    /^viva admin --backend https:\/\/\S+ (show|set-member) --email \S+( --tenant \S+)?( --role (candidate|interviewer))?$/;
  for (const line of lines) assert.match(line, shape);
  assert.ok(lines.some((l) => / set-member .*--tenant \S+ --role interviewer$/.test(l)));
  assert.ok(lines.some((l) => / set-member .*--tenant \S+ --role candidate$/.test(l)));
});

Deno.test("deploying: the local stack's switches the guide names exist", async () => {
  const binary = await Deno.readTextFile(
    new URL("crates/localstack/src/bin/viva-localstack.rs", ROOT),
  );
  // The part of step 5 that runs the local stack's own proxy (the rest runs viva-proxy).
  const step = guideText.slice(
    guideText.indexOf("## 5. The SDP proxy"),
    guideText.indexOf("## 6. "),
  );
  const section = step.slice(step.indexOf("**Without the proxy**"));
  const flags = new Set(section.match(/(?<=[\s`])--[a-z][a-z-]+/g) ?? []);
  flags.delete("--release");
  assert.ok(flags.size >= 6, [...flags].join(" "));
  for (const flag of flags) {
    assert.ok(binary.includes(`"${flag}"`), `viva-localstack has no ${flag}`);
  }
});

// ---------------------------------------------------------------------------------------------
// The guide, run

Deno.test({
  name: "deploying: the guide's runnable blocks, in order, on a fresh project database",
  ...opts,
  fn: async (t) => {
    const admin = connect("postgres", 1);
    const database = `viva_fn_deploying_${Deno.pid}_${Date.now().toString(36)}`;
    const outsiderName = `viva_fn_deploying_outsider_${Deno.pid}`;
    const upstream = new Upstream();
    await upstream.start();
    await admin.unsafe(`create database ${database}`);
    const sql = connect(database);
    const functionsSql = connect(database);
    let outsider: Sql | null = null;
    try {
      await sql.unsafe(await Deno.readTextFile(SHIM)).simple();
      // A login role that is not a member of `authenticated` but reads sessions past row-level
      // security (as a hosted `postgres`, their owner, would without the membership): the role
      // check's other side.
      await admin.unsafe(`drop role if exists ${outsiderName}`);
      await admin.unsafe(`create role ${outsiderName} login bypassrls`);
      const env: Env = {
        SUPABASE_URL: upstream.fake.url,
        SUPABASE_DB_URL: dbUrl(database),
        OPENAI_API_KEY: OPENAI_KEY,
        VIVA_OPENAI_BASE_URL: upstream.fake.url,
        // No VIVA_PROXY_URL: a hosted project has no proxy yet (the guide's step 5).
      };
      const deps = { sql: functionsSql, verifier: { jwksCooldownMs: 0 } };
      const ctx: Ctx = {
        database,
        sql,
        functionsSql,
        outsider: { name: outsiderName, sql: null },
        upstream,
        env,
        shellEnv: {
          PATH: `${PINNED_BIN.pathname}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
          DATABASE_URL: `${dbUrl(database)}?sslmode=disable`,
        },
        values: new Map([["<organisation name>", "Deploying Test Org"]]),
        ids: new Map([
          ["interviewer", crypto.randomUUID()],
          ["candidate", crypto.randomUUID()],
          ["early", userInBucket((b) => b < 10)],
          ["late", userInBucket((b) => b >= 10)],
        ]),
        start: interviewStart(env, deps),
        upload: transcriptProcessor(env, deps),
        end: interviewEnd(env, deps),
      };
      let failed = false;
      for (const block of guide) {
        if (block.marker?.kind !== "tested" || block.marker.file !== THIS_FILE) continue;
        const name = block.marker.name;
        const check = CHECKS[name];
        if (check === undefined) throw new Error(`no check "${name}"`);
        const ran: boolean = await t.step({
          name: `${name} (docs/deploying.md:${block.line})`,
          ignore: failed,
          fn: async () => {
            await check.before?.(ctx);
            let result: Shell | postgres.RowList<postgres.Row[]>;
            if (block.lang === "sh") {
              // `cli` shows the guide's own PATH line works; the rest run with it in place.
              const env = name === "cli"
                ? { ...ctx.shellEnv, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" }
                : ctx.shellEnv;
              result = await sh(fill(block.body, ctx.values), env);
            } else {
              result = await ctx.sql.unsafe(fill(block.body, ctx.values));
            }
            await check.after(ctx, result);
            if (name === "push") {
              // The schema exists now: let the outsider read sessions.
              await sql.unsafe(`grant select on public.interview_sessions to ${outsiderName}`);
              outsider = postgres(dbUrl(database).replace("//postgres@", `//${outsiderName}@`), {
                prepare: false,
                max: 1,
                onnotice: () => {},
              });
              ctx.outsider.sql = outsider;
            }
          },
        });
        failed ||= !ran;
      }
      assert.equal(failed, false, "a block of the guide failed (see its step)");
    } finally {
      await (outsider as Sql | null)?.end();
      await functionsSql.end();
      await sql.end();
      await admin.unsafe(`drop database if exists ${database} with (force)`);
      await admin.unsafe(`drop role if exists ${outsiderName}`);
      await admin.end();
      await upstream.close();
    }
  },
});
