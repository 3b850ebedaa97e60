// Reading database rows without trusting their shape: each column is checked for the type the
// query promises, and a surprise is an internal error (logged), never a wrong answer.

type Row = Record<string, unknown>;

function wrong(column: string, expected: string): Error {
  return new Error(`column ${column} is not ${expected}`);
}

export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw wrong(column, "text");
  return value;
}

export function textOrNull(row: Row, column: string): string | null {
  const value = row[column];
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") throw wrong(column, "text or null");
  return value;
}

export function bool(row: Row, column: string): boolean {
  const value = row[column];
  if (typeof value !== "boolean") throw wrong(column, "boolean");
  return value;
}

export function int(row: Row, column: string): number {
  const value = row[column];
  const number = typeof value === "string" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) {
    throw wrong(column, "an integer");
  }
  return number;
}

export function numberOrNull(row: Row, column: string): number | null {
  const value = row[column];
  if (value === null || value === undefined) return null;
  const number = typeof value === "string" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isFinite(number)) throw wrong(column, "a number");
  return number;
}

export function time(row: Row, column: string): Date {
  const value = row[column];
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw wrong(column, "a timestamp");
  return value;
}

/** The only row of `rows`, or null when there is none. */
export function first<T>(rows: readonly T[]): T | null {
  return rows.length > 0 ? rows[0] ?? null : null;
}
