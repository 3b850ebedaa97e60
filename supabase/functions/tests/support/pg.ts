// A real PostgreSQL for the tests: the cluster on 127.0.0.1:$VIVA_TEST_PG_PORT (superuser
// `postgres`, trust auth; `cargo xtask test` starts one). Each test file builds one template
// database — the hosted-Supabase shim, then every migration in name order, read from the repo —
// and copies it for every world; everything it made is dropped at the end.

import postgres from "postgres";

export type Sql = postgres.Sql;

const SHIM = new URL(
  "../../../../crates/localstack/tests/fixtures/supabase_shim.sql",
  import.meta.url,
);
const MIGRATIONS = new URL("../../../migrations/", import.meta.url);

function port(): number {
  const value = Deno.env.get("VIVA_TEST_PG_PORT");
  if (value === undefined || !/^\d+$/.test(value)) {
    throw new Error(
      "VIVA_TEST_PG_PORT is not set: run these tests through `cargo xtask test`, or start a " +
        "PostgreSQL on 127.0.0.1 (superuser postgres, trust auth) and point it there",
    );
  }
  return Number(value);
}

export function dbUrl(database: string): string {
  return `postgres://postgres@127.0.0.1:${port()}/${database}`;
}

export function connect(database: string, max = 4): Sql {
  return postgres(dbUrl(database), { prepare: false, max, onnotice: () => {} });
}

/** The migration files, in the order `supabase db push` applies them. */
export async function migrations(): Promise<URL[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(MIGRATIONS)) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(entry.name);
  }
  names.sort();
  if (names.length < 4) throw new Error(`too few migrations found: ${names.join(", ")}`);
  return names.map((name) => new URL(name, MIGRATIONS));
}

let counter = 0;

/** The databases one test file makes: a migrated template and its copies. */
export class Cluster {
  private readonly admin: Sql;
  private readonly made: string[] = [];
  private template: string | null = null;
  private readonly prefix: string;

  constructor(label: string) {
    this.admin = connect("postgres", 1);
    this.prefix = `viva_fn_${label}_${Deno.pid}_${Date.now().toString(36)}`;
  }

  private nextName(): string {
    counter += 1;
    return `${this.prefix}_${counter}`;
  }

  /** A fresh database with the shim and every migration applied. */
  async database(): Promise<string> {
    if (this.template === null) {
      const name = this.nextName();
      await this.admin.unsafe(`create database ${name}`);
      this.made.push(name);
      const sql = connect(name, 1);
      try {
        await sql.unsafe(await Deno.readTextFile(SHIM)).simple();
        for (const file of await migrations()) {
          await sql.unsafe(await Deno.readTextFile(file)).simple();
        }
      } finally {
        await sql.end();
      }
      this.template = name;
    }
    const name = this.nextName();
    await this.admin.unsafe(`create database ${name} template ${this.template}`);
    this.made.push(name);
    return name;
  }

  async drop(name: string): Promise<void> {
    await this.admin.unsafe(`drop database if exists ${name} with (force)`);
  }

  async close(): Promise<void> {
    for (const name of this.made.reverse()) {
      await this.drop(name);
    }
    await this.admin.end();
  }
}
