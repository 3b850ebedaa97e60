import { describe, expect, it } from "vitest";
import type { ReviewLineView, Speaker } from "./ipc";
import { highlight, lineAt, matchingLines, parseClock, plainText } from "./review";

const line = (atMs: number, speaker: Speaker, text: string): ReviewLineView => ({
  itemId: `item_${atMs}`,
  speaker,
  text,
  atMs,
  endMs: null,
  inaudible: false,
  interrupted: false,
  refused: null,
  late: false,
  flag: null,
});

const lines = [
  line(0, "interviewer", "Tell me about a project you led."),
  line(4_000, "candidate", "I led the billing migration."),
  line(65_000, "interviewer", "What would you do differently in the migration?"),
];

describe("review", () => {
  it("marks every occurrence of the query, whatever its case", () => {
    expect(highlight("Led it, then LED more", "led")).toEqual([
      { text: "Led", hit: true },
      { text: " it, then ", hit: false },
      { text: "LED", hit: true },
      { text: " more", hit: false },
    ]);
    expect(highlight("nothing here", "  ")).toEqual([{ text: "nothing here", hit: false }]);
  });

  it("finds the lines that contain the query", () => {
    expect(matchingLines(lines, "MIGRATION")).toEqual([1, 2]);
    expect(matchingLines(lines, "")).toEqual([]);
  });

  it("reads times people type and refuses the rest", () => {
    expect(parseClock("1:05")).toBe(65_000);
    expect(parseClock("1:02:03")).toBe(3_723_000);
    expect(parseClock("90")).toBe(90_000);
    expect(parseClock("1:75")).toBeUndefined();
    expect(parseClock("soon")).toBeUndefined();
  });

  it("jumps to the line being spoken at a time", () => {
    expect(lineAt(lines, 3_000)).toBe(0);
    expect(lineAt(lines, 64_999)).toBe(1);
    expect(lineAt(lines, 600_000)).toBe(2);
    expect(lineAt([], 0)).toBeUndefined();
  });

  it("copies each line with its time and speaker", () => {
    expect(
      plainText([...lines.slice(0, 2), { ...line(70_000, "candidate", ""), inaudible: true }]),
    ).toBe(`[0:00] Interviewer: Tell me about a project you led.
[0:04] Candidate: I led the billing migration.
[1:10] Candidate: [inaudible]`);
  });
});
