// interview-start beyond what the shared suite can say: the exact request OpenAI receives, a
// provider failure leaving nothing changed, repeated and concurrent starts by the same caller,
// two users racing for one interview, the practice limit under concurrency, CORS and methods,
// and an internal failure answered without its details.

import assert from "node:assert/strict";

import { makeHandler } from "../interview-start/handler.ts";
import { claimsOf, OPENAI_KEY, sign } from "./support/fakes.ts";
import { Cluster, connect } from "./support/pg.ts";
import { type Json, Upstream, World, type WorldSpec } from "./support/world.ts";

const cluster = new Cluster("start");
const upstream = new Upstream();

Deno.test.beforeAll(async () => {
  await upstream.start();
});

Deno.test.afterAll(async () => {
  await upstream.close();
  await cluster.close();
});

const opts = { sanitizeOps: false, sanitizeResources: false };

async function withWorld(
  spec: WorldSpec,
  body: (world: World) => Promise<void>,
  overrides: Record<string, string | undefined> = {},
): Promise<void> {
  const world = await World.create(cluster, upstream, spec, overrides);
  try {
    await body(world);
  } finally {
    await world.close();
    await cluster.drop(world.database);
  }
}

async function start(
  world: World,
  as: string,
  body: Json,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await world.call({
    call: "interview-start",
    as,
    body,
    expect: { status: 0 },
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

function field(value: unknown, ...path: string[]): unknown {
  let at = value;
  for (const key of path) {
    at = at !== null && typeof at === "object" ? (at as Record<string, unknown>)[key] : undefined;
  }
  return at;
}

const ONE_CANDIDATE: WorldSpec = {
  tenants: { t: { voice_api: "realtime" } },
  users: { c: { tenant: "t", role: "candidate" } },
  sessions: { s: { tenant: "t", candidate_email: "c", question_set: "software_engineer" } },
};

Deno.test({
  name: "start: OpenAI receives the key, the expiry and the interview's Realtime session",
  ...opts,
  fn: () =>
    withWorld(ONE_CANDIDATE, async (world) => {
      upstream.fake.secretRequests = [];
      const reply = await start(world, "c", {
        mode: "interview",
        interview_id: world.id("s"),
        consent: { notice: "viva-2026-12" },
      });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(upstream.fake.secretRequests.length, 1);
      const sent = upstream.fake.secretRequests[0];
      assert.equal(sent?.authorization, `Bearer ${OPENAI_KEY}`);
      assert.deepEqual(field(sent?.body, "expires_after"), { anchor: "created_at", seconds: 600 });
      const session = field(sent?.body, "session");
      assert.deepEqual(session, field(reply.body, "realtime", "session"));
      assert.equal(field(session, "type"), "realtime");
      assert.equal(field(session, "model"), "gpt-realtime");
      assert.deepEqual(field(session, "audio", "input", "transcription"), {
        model: "gpt-4o-mini-transcribe",
        language: "en",
      });
      assert.equal(field(session, "audio", "output", "voice"), "marin");
      assert.match(
        String(field(session, "instructions")),
        /^You are Viva's interviewer for the `software_engineer` question set\./,
      );
      assert.equal(field(reply.body, "realtime", "url"), `${upstream.fake.url}/v1/realtime/calls`);
      // The key never reaches the client.
      assert.ok(!JSON.stringify(reply.body).includes(OPENAI_KEY));
    }),
});

Deno.test({
  name: "start: calling again keeps the session and its started_at, with a fresh secret",
  ...opts,
  fn: () =>
    withWorld(ONE_CANDIDATE, async (world) => {
      const body = {
        mode: "interview",
        interview_id: world.id("s"),
        consent: { notice: "viva-2026-12" },
      };
      const first = await start(world, "c", body);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const again = await start(world, "c", body);
      assert.equal(first.status, 200);
      assert.equal(again.status, 200);
      assert.equal(field(again.body, "session", "id"), world.id("s"));
      assert.equal(
        field(again.body, "session", "started_at"),
        field(first.body, "session", "started_at"),
      );
      assert.notEqual(
        field(again.body, "realtime", "client_secret", "value"),
        field(first.body, "realtime", "client_secret", "value"),
      );
      const [row] = await world.sql`
        select started_at from public.interview_sessions where id = ${world.id("s")}`;
      assert.equal(
        (row?.started_at as Date).toISOString(),
        field(first.body, "session", "started_at"),
      );
    }),
});

Deno.test({
  name: "start: a provider failure is 503 and leaves nothing changed (practice and interview)",
  ...opts,
  fn: () =>
    withWorld(ONE_CANDIDATE, async (world) => {
      upstream.fake.openaiFailure = 500;
      try {
        const practice = await start(world, "c", { mode: "practice" });
        assert.equal(practice.status, 503);
        assert.equal(practice.body.code, "voice_unavailable");
        const interview = await start(world, "c", {
          mode: "interview",
          interview_id: world.id("s"),
          consent: { notice: "viva-2026-12" },
        });
        assert.equal(interview.status, 503);
        assert.equal(interview.body.code, "voice_unavailable");
      } finally {
        upstream.fake.openaiFailure = null;
      }
      const rows = await world.sql`
        select id, status, candidate_id, started_at from public.interview_sessions`;
      assert.equal(rows.length, 1, "no practice session is left behind");
      assert.equal(rows[0]?.status, "scheduled");
      assert.equal(rows[0]?.candidate_id, null);
      assert.equal(rows[0]?.started_at, null);
      // And once OpenAI is back, the same calls succeed.
      assert.equal((await start(world, "c", { mode: "practice" })).status, 200);
    }),
});

Deno.test({
  name: "start: no OpenAI key, a wrong key, or no proxy URL is 503 voice_unavailable",
  ...opts,
  fn: async () => {
    const live: WorldSpec = { ...ONE_CANDIDATE, tenants: { t: { voice_api: "live" } } };
    await withWorld(ONE_CANDIDATE, async (world) => {
      const reply = await start(world, "c", { mode: "practice" });
      assert.equal(reply.status, 503);
      assert.equal(reply.body.code, "voice_unavailable");
    }, { OPENAI_API_KEY: undefined });
    await withWorld(ONE_CANDIDATE, async (world) => {
      const reply = await start(world, "c", { mode: "practice" });
      assert.equal(reply.status, 503);
      assert.equal(reply.body.code, "voice_unavailable");
    }, { OPENAI_API_KEY: "sk-wrong" });
    await withWorld(live, async (world) => {
      const reply = await start(world, "c", {
        mode: "interview",
        interview_id: world.id("s"),
        consent: { notice: "viva-2026-12" },
      });
      assert.equal(reply.status, 503);
      assert.equal(reply.body.code, "voice_unavailable");
      const [row] = await world.sql`select status from public.interview_sessions`;
      assert.equal(row?.status, "scheduled");
    }, { VIVA_PROXY_URL: undefined });
  },
});

Deno.test({
  name: "start: concurrent starts by the same caller all succeed on one session",
  ...opts,
  fn: () =>
    withWorld(ONE_CANDIDATE, async (world) => {
      const body = {
        mode: "interview",
        interview_id: world.id("s"),
        consent: { notice: "viva-2026-12" },
      };
      const replies = await Promise.all([1, 2, 3, 4].map(() => start(world, "c", body)));
      for (const reply of replies) assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const startedAt = new Set(replies.map((r) => field(r.body, "session", "started_at")));
      assert.equal(startedAt.size, 1, "one started_at for every grant");
      const [row] = await world.sql`
        select status, candidate_id from public.interview_sessions where id = ${world.id("s")}`;
      assert.equal(row?.status, "active");
      assert.equal(row?.candidate_id, world.id("c"));
    }),
});

Deno.test({
  name:
    "start: two users racing for one interview (same address): one binds it, the other is refused",
  ...opts,
  fn: () =>
    withWorld(ONE_CANDIDATE, async (world) => {
      const tenant = world.id("t");
      const email = world.user("c").email;
      const x = crypto.randomUUID();
      const y = crypto.randomUUID();
      const token = (sub: string) =>
        sign(
          claimsOf({ sub, email, tenant, role: "candidate" }, upstream.fake.url),
          upstream.signingKey(),
        );
      const call = async (sub: string) => {
        const response = await world.handlers["interview-start"](
          new Request("http://functions.test/functions/v1/interview-start", {
            method: "POST",
            headers: { authorization: `Bearer ${await token(sub)}` },
            body: JSON.stringify({
              mode: "interview",
              interview_id: world.id("s"),
              consent: { notice: "viva-2026-12" },
            }),
          }),
        );
        return { status: response.status, body: await response.json() };
      };
      const [rx, ry] = await Promise.all([call(x), call(y)]);
      const statuses = [rx.status, ry.status].sort();
      assert.deepEqual(statuses, [200, 403], JSON.stringify([rx.body, ry.body]));
      const winner = rx.status === 200 ? x : y;
      const [row] = await world.sql`
        select candidate_id from public.interview_sessions where id = ${world.id("s")}`;
      assert.equal(row?.candidate_id, winner);
      // The loser cannot take it afterwards either, although the address is theirs too.
      const loser = winner === x ? y : x;
      assert.equal((await call(loser)).status, 403);
      assert.equal((await call(winner)).status, 200);
    }),
});

Deno.test({
  name: "start: the practice limit holds under concurrent starts",
  ...opts,
  fn: () =>
    withWorld({ ...ONE_CANDIDATE, limits: { practice_sessions_per_hour: 2 } }, async (world) => {
      const replies = await Promise.all(
        [1, 2, 3, 4, 5].map(() => start(world, "c", { mode: "practice" })),
      );
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
      for (const reply of replies.filter((r) => r.status === 429)) {
        const wait = Number(reply.headers.get("retry-after"));
        assert.ok(wait > 3500 && wait <= 3600, `Retry-After ${wait}`);
      }
      const [row] = await world.sql`
        select count(*)::int as n from public.interview_sessions where mode = 'practice'`;
      assert.equal(row?.n, 2);
    }),
});

Deno.test({
  name: "start: OPTIONS answers CORS, other methods are 405, every reply carries CORS",
  ...opts,
  fn: () =>
    withWorld(ONE_CANDIDATE, async (world) => {
      const handle = world.handlers["interview-start"];
      const options = await handle(new Request("http://f.test/", { method: "OPTIONS" }));
      assert.equal(options.status, 200);
      await options.body?.cancel();
      assert.equal(options.headers.get("access-control-allow-origin"), "*");
      assert.equal(
        options.headers.get("access-control-allow-headers"),
        "authorization, x-client-info, apikey, content-type",
      );
      assert.equal(options.headers.get("access-control-allow-methods"), "POST, OPTIONS");
      const get = await handle(new Request("http://f.test/", { method: "GET" }));
      assert.equal(get.status, 405);
      assert.equal((await get.json()).code, "method_not_allowed");
      const refused = await start(world, "c", { mode: "interview", interview_id: "nope" });
      assert.equal(refused.status, 404);
      assert.equal(refused.headers.get("access-control-allow-origin"), "*");
      assert.equal(refused.headers.get("content-type"), "application/json");
    }),
});

Deno.test({
  name: "start: a database failure is 500 internal_error without its details",
  ...opts,
  fn: async () => {
    const broken = connect("viva_fn_no_such_database");
    const errors: string[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => errors.push(args.join(" "));
    try {
      const handle = makeHandler(
        { SUPABASE_URL: upstream.fake.url, SUPABASE_DB_URL: "postgres://unused" },
        { sql: broken },
      );
      const claims = claimsOf(
        {
          sub: crypto.randomUUID(),
          email: "c@t.test",
          tenant: crypto.randomUUID(),
          role: "candidate",
        },
        upstream.fake.url,
      );
      const token = await sign(claims, upstream.signingKey());
      const response = await handle(
        new Request("http://f.test/", {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          body: JSON.stringify({ mode: "practice" }),
        }),
      );
      const text = await response.text();
      assert.equal(response.status, 500);
      assert.deepEqual(JSON.parse(text), {
        code: "internal_error",
        message: "the function failed; try again later",
      });
      assert.ok(!text.includes("viva_fn_no_such_database"));
      assert.equal(errors.length, 1);
      assert.ok(!errors.join("\n").includes(token), "the log never carries the token");
    } finally {
      console.error = log;
      await broken.end();
    }
  },
});
