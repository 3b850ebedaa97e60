// A transcript under review: finding words, jumping to a time, and the text that is copied. Pure,
// so it is tested without a window.
import type { ReviewLineView, TranscriptView } from "./ipc";
import { clock } from "./transcript";

/** A piece of a line's text, marked when it matches what the user is looking for. */
export type Piece = { text: string; hit: boolean };

/** `text` split around every case-insensitive occurrence of `query`. */
export function highlight(text: string, query: string): Piece[] {
  const needle = query.trim().toLocaleLowerCase();
  if (needle === "") return [{ text, hit: false }];
  const haystack = text.toLocaleLowerCase();
  const pieces: Piece[] = [];
  let from = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, from)) {
    if (at > from) pieces.push({ text: text.slice(from, at), hit: false });
    pieces.push({ text: text.slice(at, at + needle.length), hit: true });
    from = at + needle.length;
  }
  if (from < text.length) pieces.push({ text: text.slice(from), hit: false });
  return pieces;
}

/** Indexes of the lines that contain `query` (case-insensitive); none for an empty query. */
export function matchingLines(lines: readonly ReviewLineView[], query: string): number[] {
  const needle = query.trim().toLocaleLowerCase();
  if (needle === "") return [];
  const found: number[] = [];
  lines.forEach((line, index) => {
    if (line.text.toLocaleLowerCase().includes(needle)) found.push(index);
  });
  return found;
}

/** Milliseconds from `m:ss`, `h:mm:ss` or plain seconds; `undefined` for anything else. */
export function parseClock(text: string): number | undefined {
  const parts = text.trim().split(":");
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  const numbers = parts.map(Number);
  if (numbers.slice(1).some((n) => n >= 60)) return undefined;
  const seconds = numbers.reduce((total, n) => total * 60 + n, 0);
  return seconds * 1000;
}

/** The line being spoken at `ms`: the last one that started at or before it (else the first). */
export function lineAt(lines: readonly ReviewLineView[], ms: number): number | undefined {
  if (lines.length === 0) return undefined;
  let found = 0;
  lines.forEach((line, index) => {
    if (line.atMs <= ms) found = index;
  });
  return found;
}

export function speakerLabel(speaker: string): string {
  return speaker === "candidate" ? "Candidate" : "Interviewer";
}

/** The transcript as copied to the clipboard: `[m:ss] Speaker: words`, one line each. */
export function plainText(lines: readonly ReviewLineView[]): string {
  return lines
    .map((line) => {
      const words = line.inaudible && line.text.trim() === "" ? "[inaudible]" : line.text.trim();
      return `[${clock(line.atMs)}] ${speakerLabel(line.speaker)}: ${words}`;
    })
    .join("\n");
}

const READ_AT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** What to tell the reader about where the transcript came from; nothing for an original. */
export function sourceNotice(source: TranscriptView["source"]): string | undefined {
  if (source.kind !== "copy") return undefined;
  const when = source.readAtMs ? ` at ${READ_AT.format(source.readAtMs)}` : "";
  return `This is the copy kept when it was last read from the server${when}; it may be out of date. ${source.reason}`;
}

/** What the reader is told about the check against the signalling service's record. */
export type RecordNotice = { text: string; warning: boolean };

/**
 * The check of a transcript against the signalling service's record (what the provider's side
 * really carried); nothing for the original recorded on this computer.
 */
export function recordNotice(record: TranscriptView["record"]): RecordNotice | undefined {
  switch (record.kind) {
    case "original":
      return undefined;
    case "noRecord":
      return {
        text: "Not checked: the signalling service kept no record of this interview that you can read.",
        warning: false,
      };
    case "notChecked":
      return {
        text: `Not checked against the signalling service's record. ${record.reason}`,
        warning: false,
      };
    case "checked": {
      const unjudged =
        record.unjudged === 0
          ? ""
          : ` ${count(record.unjudged, "line was", "lines were")} said while it was not listening and could not be checked.`;
      if (record.flagged === 0) {
        return {
          text: `Checked against the signalling service's record: ${count(record.judged, "line matches", "lines match")} what it heard.${unjudged}`,
          warning: false,
        };
      }
      return {
        text: `${count(record.flagged, "line differs", "lines differ")} from what the signalling service heard (marked below); the candidate's computer may have changed ${record.flagged === 1 ? "it" : "them"}.${unjudged}`,
        warning: true,
      };
    }
  }
}

/** Why the record contradicts one line. */
export function flagText(flag: NonNullable<ReviewLineView["flag"]>): string {
  return flag.kind === "notHeard"
    ? "The signalling service was listening and did not hear this."
    : `The signalling service heard: “${flag.heard}”`;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
