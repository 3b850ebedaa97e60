// Tokens as hosted Supabase issues them, attacked through a real handler on PostgreSQL: ES256
// and RS256 against the project's JWKS (served here on 127.0.0.1 with keys made at test time),
// HS256 only with the configured legacy secret, and every refusal a 401 `unauthorized`.

import assert from "node:assert/strict";
import { exportSPKI } from "jose";

import { makeHandler } from "../transcript-processor/handler.ts";
import type { Env } from "../_shared/config.ts";
import {
  claimsOf,
  FakeUpstream,
  hmacWith,
  type KeyPair,
  keyPair,
  sign,
  signHs256,
  unsigned,
} from "./support/fakes.ts";
import { Cluster, connect, dbUrl, type Sql } from "./support/pg.ts";

const LEGACY_SECRET = "legacy-secret-for-tests-only-0123456789abcdef";
const TENANT = "aaaaaaaa-0000-4000-8000-000000000001";
const USER = "a1a1a1a1-0000-4000-8000-000000000001";
const SESSION = "5a150000-0000-4000-8000-000000000001";

const cluster = new Cluster("tokens");
const upstream = new FakeUpstream();
let sql: Sql | null = null;
let database = "";
let es256: KeyPair;
let rs256: KeyPair;
let stranger: KeyPair;

Deno.test.beforeAll(async () => {
  await upstream.start();
  es256 = await keyPair("ES256", "es-key");
  rs256 = await keyPair("RS256", "rs-key");
  stranger = await keyPair("ES256", "unpublished");
  upstream.published = [es256, rs256];
  database = await cluster.database();
  sql = connect(database);
  await sql`insert into public.tenants (id, name) values (${TENANT}, 'Acme')`;
  await sql`
    insert into public.interview_sessions (id, tenant_id, candidate_id, candidate_email, title,
                                           question_set, status, started_at)
    values (${SESSION}, ${TENANT}, ${USER}, 'c@acme.test', 'A', 'software_engineer', 'active', now())`;
});

Deno.test.afterAll(async () => {
  await sql?.end();
  await upstream.close();
  await cluster.close();
});

function pool(): Sql {
  if (sql === null) throw new Error("not set up");
  return sql;
}

function handler(extra: Env = {}, cooldownMs = 30_000): (req: Request) => Promise<Response> {
  return makeHandler(
    { SUPABASE_URL: upstream.url, SUPABASE_DB_URL: dbUrl(database), ...extra },
    { sql: pool(), verifier: { jwksCooldownMs: cooldownMs } },
  );
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...claimsOf(
      { sub: USER, email: "c@acme.test", tenant: TENANT, role: "candidate" },
      upstream.url,
    ),
    ...overrides,
  };
}

async function call(
  handle: (req: Request) => Promise<Response>,
  authorization: string | null,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers = new Headers({ "content-type": "application/json" });
  if (authorization !== null) headers.set("authorization", authorization);
  const response = await handle(
    new Request("http://functions.test/functions/v1/transcript-processor", {
      method: "POST",
      headers,
      body: JSON.stringify({ session_id: SESSION, entries: [] }),
    }),
  );
  return { status: response.status, body: await response.json() };
}

async function accepted(handle: (req: Request) => Promise<Response>, token: string) {
  const { status, body } = await call(handle, `Bearer ${token}`);
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body, { accepted: 0, duplicates: 0, rejected: [] });
}

async function refused(
  handle: (req: Request) => Promise<Response>,
  authorization: string | null,
  why: string,
) {
  const { status, body } = await call(handle, authorization);
  assert.equal(status, 401, `${why}: ${JSON.stringify(body)}`);
  assert.equal(body.code, "unauthorized", why);
  assert.equal(typeof body.message, "string", why);
  assert.deepEqual(Object.keys(body).sort(), ["code", "message"], why);
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "tokens: ES256 and RS256 verify against the JWKS, fetched once and cached",
  ...opts,
  fn: async () => {
    const handle = handler();
    const before = upstream.jwksFetches;
    await accepted(handle, await sign(claims(), es256));
    await accepted(handle, await sign(claims(), rs256));
    await accepted(handle, await sign(claims(), es256));
    assert.equal(upstream.jwksFetches - before, 1);
  },
});

Deno.test({
  name: "tokens: HS256 verifies only with the configured legacy secret",
  ...opts,
  fn: async () => {
    const token = await signHs256(claims(), LEGACY_SECRET);
    await accepted(handler({ VIVA_LEGACY_JWT_SECRET: LEGACY_SECRET }), token);
    await refused(handler(), `Bearer ${token}`, "HS256 without a configured secret");
    await refused(
      handler({ VIVA_LEGACY_JWT_SECRET: "another-secret-entirely-0123456789abcdef" }),
      `Bearer ${token}`,
      "HS256 with another secret",
    );
  },
});

Deno.test({
  name: "tokens: claims that break the rules are refused (expired, audience, missing exp or sub)",
  ...opts,
  fn: async () => {
    const handle = handler({ VIVA_LEGACY_JWT_SECRET: LEGACY_SECRET });
    const now = Math.floor(Date.now() / 1000);
    const bad: [string, Record<string, unknown>][] = [
      ["expired", claims({ exp: now - 120, iat: now - 3720 })],
      ["wrong audience", claims({ aud: "anon" })],
      ["audience list without authenticated", claims({ aud: ["anon", "service"] })],
      ["no audience", claims({ aud: undefined })],
      ["no exp", claims({ exp: undefined })],
      ["no sub", claims({ sub: undefined })],
      ["sub not a user id", claims({ sub: "service_role" })],
      ["not valid yet", claims({ nbf: now + 3600 })],
    ];
    for (const [why, payload] of bad) {
      const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
      await refused(handle, `Bearer ${await sign(clean, es256)}`, `${why} (ES256)`);
      await refused(handle, `Bearer ${await signHs256(clean, LEGACY_SECRET)}`, `${why} (HS256)`);
    }
  },
});

Deno.test({
  name: "tokens: forged, unknown, unsigned and garbled tokens are refused",
  ...opts,
  fn: async () => {
    const handle = handler({ VIVA_LEGACY_JWT_SECRET: LEGACY_SECRET }, 0);
    const noSecret = handler({}, 0);
    const good = await sign(claims(), es256);
    const [header, payload] = good.split(".");
    const forged = (await sign(claims(), stranger, es256.kid)).split(".")[2];
    const publicPem = await exportSPKI(es256.publicKey);
    const publicJwkText = JSON.stringify(es256.publicJwk);
    const attacks: [string, string | null][] = [
      ["missing header", null],
      ["empty bearer", "Bearer "],
      ["not a bearer", `Basic ${btoa("c@acme.test:secret")}`],
      ["garbage", "Bearer this-is-not-a-token"],
      ["three garbled parts", "Bearer a.b.c"],
      ["bad signature (another key, the published kid)", `Bearer ${header}.${payload}.${forged}`],
      ["no signature", `Bearer ${header}.${payload}.`],
      ["unknown kid", `Bearer ${await sign(claims(), stranger)}`],
      ["alg none", `Bearer ${unsigned(claims())}`],
      [
        "HS256 keyed with the public JWK",
        `Bearer ${await hmacWith(claims(), publicJwkText, "es-key")}`,
      ],
      [
        "payload swapped under a valid signature",
        `Bearer ${header}.${
          btoa(JSON.stringify(claims({ sub: "b1b1b1b1-0000-4000-8000-000000000001" })))
            .replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_")
        }.${good.split(".")[2]}`,
      ],
    ];
    {
      attacks.push([
        "HS256 keyed with the public PEM",
        `Bearer ${await hmacWith(claims(), publicPem)}`,
      ]);
    }
    for (const [why, authorization] of attacks) {
      await refused(handle, authorization, why);
      await refused(noSecret, authorization, `${why}, no legacy secret`);
    }
    // HS256 keyed with what a client can see (the key id), when no legacy secret is configured.
    await refused(
      noSecret,
      `Bearer ${await hmacWith(claims(), "es-key")}`,
      "HS256 keyed with a kid",
    );
  },
});

Deno.test({
  name: "tokens: a key rotated into the JWKS is picked up when a token names its kid",
  ...opts,
  fn: async () => {
    const handle = handler({}, 0);
    await accepted(handle, await sign(claims(), es256));
    const rotated = await keyPair("ES256", "rotated-key");
    upstream.published = [es256, rs256, rotated];
    try {
      const before = upstream.jwksFetches;
      await accepted(handle, await sign(claims(), rotated));
      assert.equal(upstream.jwksFetches - before, 1, "fetched again for the new kid");
      // A retired key stops working once the set no longer has it.
      upstream.published = [rotated];
      await refused(
        handle,
        `Bearer ${await sign(claims(), stranger)}`,
        "unknown kid after rotation",
      );
    } finally {
      upstream.published = [es256, rs256];
    }
  },
});

Deno.test({
  name: "tokens: every function refuses a bad token before reading the body",
  ...opts,
  fn: async () => {
    const { makeHandler: start } = await import("../interview-start/handler.ts");
    const { makeHandler: end } = await import("../interview-end/handler.ts");
    const env = { SUPABASE_URL: upstream.url, SUPABASE_DB_URL: dbUrl(database) };
    for (const make of [start, end, makeHandler]) {
      const handle = make(env, { sql: pool() });
      const response = await handle(
        new Request("http://functions.test/", {
          method: "POST",
          headers: { authorization: `Bearer ${unsigned(claims())}` },
          body: "not json",
        }),
      );
      assert.equal(response.status, 401);
      assert.equal((await response.json()).code, "unauthorized");
    }
  },
});
