// The live transcript as the room shows it: lines kept in conversation order, a final line never
// replaced by late partial words, and the interviewer's current question. Pure, so it is tested
// without a window.
import type { Line } from "./ipc";

/** `lines` with `line` added or updated, in conversation order. */
export function applyLine(lines: readonly Line[], line: Line): Line[] {
  const index = lines.findIndex((l) => l.item_id === line.item_id);
  if (index >= 0 && lines[index]?.status === "final" && line.status !== "final") return [...lines];
  const next = index >= 0 ? lines.map((l, i) => (i === index ? line : l)) : [...lines, line];
  return next.sort((a, b) => a.seq - b.seq);
}

/** `lines` after an item moved to position `seq`. */
export function renumber(lines: readonly Line[], itemId: string, seq: number): Line[] {
  return lines.map((l) => (l.item_id === itemId ? { ...l, seq } : l)).sort((a, b) => a.seq - b.seq);
}

/** The interviewer's latest line with words: the question to show large. */
export function currentQuestion(lines: readonly Line[]): Line | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i];
    if (line && line.speaker === "interviewer" && line.text.trim() !== "") return line;
  }
  return undefined;
}

/** `m:ss` (or `h:mm:ss`) since the session started. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours > 0
    ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}`
    : `${minutes}:${seconds}`;
}

/** A level meter's fill, 0–100, from an RMS level in dBFS (−60 dB and below is empty). */
export function meterPercent(dbfs: number): number {
  if (!Number.isFinite(dbfs)) return 0;
  return Math.round(Math.min(100, Math.max(0, ((dbfs + 60) / 60) * 100)));
}
