// Each edge function as it runs when deployed: `deno run` of its index.ts, served on loopback
// (DENO_SERVE_ADDRESS), against a fresh database of the harness's PostgreSQL.
// * cold start: from spawning the process to its first 200 answer (median of 3 runs, each on a
//   fresh database);
// * warm: 500 sequential requests to the running process, p50 and p99.
// The fake Auth JWKS and OpenAI live in this process on 127.0.0.1. Run by `cargo xtask bench`
// (`cargo xtask bench functions` for these alone); prints a table and, when VIVA_BENCH_ROWS
// names a folder, leaves its rows there.

import { claimsOf, OPENAI_KEY, sign } from "./support/fakes.ts";
import { Cluster, connect, dbUrl } from "./support/pg.ts";
import { Upstream } from "./support/world.ts";

const WARM_REQUESTS = 500;
const COLD_RUNS = 3;
const HERE = new URL("../", import.meta.url);

const upstream = new Upstream();
await upstream.start();
const cluster = new Cluster("bench");

interface Scenario {
  name: "interview-start" | "transcript-processor" | "interview-end";
  /** Seeds the database; returns the body of request `n`. */
  seed(sql: ReturnType<typeof connect>, ids: Ids): Promise<(n: number) => unknown>;
}

interface Ids {
  tenant: string;
  user: string;
}

const SCENARIOS: Scenario[] = [
  {
    // A reconnect: the same caller re-starting their live interview (GPT-Live grant, so the
    // figure is the function and its database, with no provider call).
    name: "interview-start",
    seed: async (sql, ids) => {
      const [row] = await sql`
        insert into public.interview_sessions (tenant_id, candidate_id, candidate_email, title,
                                               question_set, status, started_at)
        values (${ids.tenant}, ${ids.user}, 'c@bench.test', 'Bench', 'software_engineer',
                'active', now())
        returning id`;
      const id = row?.id;
      return () => ({ mode: "interview", interview_id: id });
    },
  },
  {
    // A batch of 10 new lines per request.
    name: "transcript-processor",
    seed: async (sql, ids) => {
      const [row] = await sql`
        insert into public.interview_sessions (tenant_id, candidate_id, candidate_email, title,
                                               question_set, status, started_at)
        values (${ids.tenant}, ${ids.user}, 'c@bench.test', 'Bench', 'software_engineer',
                'active', now())
        returning id`;
      const id = row?.id;
      return (n) => ({
        session_id: id,
        entries: Array.from({ length: 10 }, (_, i) => ({
          item_id: `item_${n}_${i}`,
          seq: n * 10 + i,
          speaker: i % 2 === 0 ? "interviewer" : "candidate",
          text: "A line of about the length people speak in one breath, give or take.",
          started_ms: (n * 10 + i) * 1000,
          ended_ms: (n * 10 + i) * 1000 + 900,
        })),
      });
    },
  },
  {
    // Each request ends another live session of the caller's.
    name: "interview-end",
    seed: async (sql, ids) => {
      const rows = await sql`
        insert into public.interview_sessions (tenant_id, candidate_id, candidate_email, title,
                                               question_set, status, started_at)
        select ${ids.tenant}, ${ids.user}, 'c@bench.test', 'Bench', 'software_engineer',
               'active', now()
          from generate_series(1, ${WARM_REQUESTS + 10})
        returning id`;
      const list = rows.map((r) => r.id as string);
      return (n) => ({
        session_id: list[n],
        status: "completed",
        ended_at: new Date().toISOString(),
        duration_ms: 60_000,
      });
    },
  },
];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function post(port: number, name: string, token: string, body: unknown): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/functions/v1/${name}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.body?.cancel();
  return response.status;
}

interface Run {
  coldMs: number;
  warm: number[];
}

async function runOnce(scenario: Scenario, warm: boolean): Promise<Run> {
  const database = await cluster.database();
  const sql = connect(database, 1);
  const ids = { tenant: crypto.randomUUID(), user: crypto.randomUUID() };
  await sql`insert into public.tenants (id, name) values (${ids.tenant}, 'Bench')`;
  const bodyOf = await scenario.seed(sql, ids);
  await sql.end();
  const token = await sign(
    claimsOf(
      { sub: ids.user, email: "c@bench.test", tenant: ids.tenant, role: "candidate" },
      upstream.fake.url,
    ),
    upstream.signingKey(),
  );
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--cached-only",
      "--allow-net",
      "--allow-env",
      new URL(`${scenario.name}/index.ts`, HERE).pathname,
    ],
    cwd: new URL(".", HERE).pathname,
    env: {
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      SUPABASE_URL: upstream.fake.url,
      SUPABASE_DB_URL: dbUrl(database),
      OPENAI_API_KEY: OPENAI_KEY,
      VIVA_OPENAI_BASE_URL: upstream.fake.url,
      VIVA_PROXY_URL: "wss://proxy.bench.test/ws",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    let coldMs = NaN;
    const deadline = started + 20_000;
    while (performance.now() < deadline) {
      const status = await post(port, scenario.name, token, bodyOf(0)).catch(() => 0);
      if (status === 200) {
        coldMs = performance.now() - started;
        break;
      }
      if (status !== 0) throw new Error(`${scenario.name} answered ${status} on its first call`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (Number.isNaN(coldMs)) throw new Error(`${scenario.name} did not answer within 20 s`);
    const times: number[] = [];
    for (let n = 1; warm && n <= WARM_REQUESTS; n += 1) {
      const begin = performance.now();
      const status = await post(port, scenario.name, token, bodyOf(n));
      times.push(performance.now() - begin);
      if (status !== 200) throw new Error(`${scenario.name} answered ${status} to request ${n}`);
    }
    return { coldMs, warm: times };
  } finally {
    child.kill("SIGTERM");
    const { stderr } = await child.output();
    const errors = new TextDecoder().decode(stderr).split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("Listening on "))
      .join("\n");
    if (errors !== "") console.error(`${scenario.name} logged:\n${errors}`);
    await cluster.drop(database);
  }
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

const ms = (value: number) => `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ms`;
const rows: string[] = [];
try {
  for (const scenario of SCENARIOS) {
    const runs: Run[] = [];
    for (let i = 0; i < COLD_RUNS; i += 1) runs.push(await runOnce(scenario, i === 0));
    const cold = runs.map((r) => r.coldMs).sort((a, b) => a - b);
    const warm = (runs[0]?.warm ?? []).sort((a, b) => a - b);
    rows.push(
      `| ${scenario.name}: cold start to first 200 (median of ${COLD_RUNS}) | ${
        ms(percentile(cold, 50))
      } (${ms(cold[0] ?? NaN)}–${ms(cold[cold.length - 1] ?? NaN)}) | < 1 s |`,
      `| ${scenario.name}: warm request p50 / p99 (${WARM_REQUESTS}) | ${
        ms(percentile(warm, 50))
      } / ${ms(percentile(warm, 99))} | p50 < 10 ms |`,
    );
  }
} finally {
  await upstream.close();
  await cluster.close();
}

console.log("\n| measure (edge functions, database on loopback) | result | goal |\n|---|---|---|");
for (const row of rows) console.log(row);
const rowsDir = Deno.env.get("VIVA_BENCH_ROWS");
if (rowsDir) {
  await Deno.mkdir(rowsDir, { recursive: true });
  await Deno.writeTextFile(`${rowsDir}/edge_functions.md`, rows.join("\n") + "\n");
}
