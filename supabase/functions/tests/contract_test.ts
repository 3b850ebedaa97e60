// The shared contract suite (contract.json) against the Deno functions on PostgreSQL: every
// case in a fresh world, every step through the in-process handlers. The local stack's tests
// run the same file against its Rust functions, so the two implementations cannot drift.

import { Cluster } from "./support/pg.ts";
import { type Case, type Json, mismatches, Upstream, World } from "./support/world.ts";

const suite = JSON.parse(
  await Deno.readTextFile(new URL("./contract.json", import.meta.url)),
) as { cases: Case[] };

const cluster = new Cluster("contract");
const upstream = new Upstream();

Deno.test.beforeAll(async () => {
  await upstream.start();
});

Deno.test.afterAll(async () => {
  await upstream.close();
  await cluster.close();
});

async function runCase(testCase: Case): Promise<void> {
  const world = await World.create(cluster, upstream, testCase.world);
  try {
    for (const [index, step] of testCase.steps.entries()) {
      for (let round = 0; round < (step.repeat ?? 1); round += 1) {
        const where = `step ${index + 1} (${step.call}${step.repeat ? `, call ${round + 1}` : ""})`;
        const response = await world.call(step);
        const text = await response.text();
        const problems: string[] = [];
        if (response.status !== step.expect.status) {
          problems.push(`status: expected ${step.expect.status}, got ${response.status}`);
        }
        let body: Json | undefined;
        try {
          body = JSON.parse(text) as Json;
        } catch {
          problems.push(`the reply is not JSON: ${text.slice(0, 200)}`);
        }
        if (step.expect.body !== undefined) {
          problems.push(...mismatches(world.substitute(step.expect.body), body, "body"));
        }
        for (const [name, pattern] of Object.entries(step.expect.headers ?? {})) {
          problems.push(
            ...mismatches(world.substitute(pattern), response.headers.get(name), `header ${name}`),
          );
        }
        if (problems.length > 0) {
          throw new Error(`${where}:\n  ${problems.join("\n  ")}\n  reply: ${text.slice(0, 600)}`);
        }
      }
      if (step.expect_session !== undefined) {
        const row = await world.sessionRow(step.expect_session.session);
        const problems = mismatches(world.substitute(step.expect_session.row), row, "row");
        if (problems.length > 0) {
          throw new Error(
            `step ${index + 1}, session ${step.expect_session.session}:\n  ${
              problems.join("\n  ")
            }\n  row: ${JSON.stringify(row)}`,
          );
        }
      }
      if (step.expect_lines !== undefined) {
        const lines = await world.lines(step.expect_lines.session);
        const problems = mismatches(world.substitute(step.expect_lines.lines), lines, "lines");
        if (problems.length > 0) {
          throw new Error(
            `step ${index + 1}, lines of ${step.expect_lines.session}:\n  ${
              problems.join("\n  ")
            }\n  lines: ${JSON.stringify(lines).slice(0, 1500)}`,
          );
        }
      }
    }
  } finally {
    await world.close();
    await cluster.drop(world.database);
  }
}

for (const testCase of suite.cases) {
  Deno.test({
    name: `contract: ${testCase.name}`,
    // The pool, the fake upstream and jose's key set outlive one case by design.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => runCase(testCase),
  });
}

Deno.test("contract: the suite covers every function and every token attack", () => {
  const calls = new Set(suite.cases.flatMap((c) => c.steps.map((s) => s.call)));
  for (const name of ["interview-start", "transcript-processor", "interview-end"]) {
    if (!calls.has(name as Case["steps"][number]["call"])) throw new Error(`no case calls ${name}`);
  }
  for (const name of calls) {
    const tokens = new Set(
      suite.cases.flatMap((c) => c.steps.filter((s) => s.call === name).map((s) => s.token)),
    );
    for (const kind of ["none", "expired", "wrong_audience", "bad_signature", "garbage"]) {
      if (!tokens.has(kind as Case["steps"][number]["token"])) {
        throw new Error(`no case attacks ${name} with a "${kind}" token`);
      }
    }
  }
  const names = suite.cases.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new Error("two cases share a name");
});
