import { describe, expect, it } from "vitest";
import type { Line, Speaker } from "./ipc";
import { applyLine, clock, currentQuestion, meterPercent, renumber } from "./transcript";

function line(
  itemId: string,
  seq: number,
  text: string,
  isFinal: boolean,
  speaker: Speaker = "candidate",
): Line {
  return {
    item_id: itemId,
    seq,
    speaker,
    text,
    started_ms: seq * 1000,
    ended_ms: null,
    status: isFinal ? "final" : "partial",
    inaudible: null,
    interrupted: false,
  };
}

describe("the live transcript", () => {
  it("keeps lines in conversation order and updates them in place", () => {
    let lines = applyLine([], line("b", 2, "I would", false));
    lines = applyLine(lines, line("a", 1, "Tell me", true, "interviewer"));
    lines = applyLine(lines, line("b", 2, "I would measure first", true));
    expect(lines.map((l) => [l.item_id, l.text, l.status])).toEqual([
      ["a", "Tell me", "final"],
      ["b", "I would measure first", "final"],
    ]);
  });

  it("never lets late partial words replace a final line", () => {
    const lines = applyLine([line("a", 1, "final words", true)], line("a", 1, "final", false));
    expect(lines[0]?.text).toBe("final words");
    expect(lines[0]?.status).toBe("final");
  });

  it("moves a renumbered line", () => {
    const lines = renumber([line("a", 1, "x", true), line("b", 2, "y", true)], "a", 3);
    expect(lines.map((l) => l.item_id)).toEqual(["b", "a"]);
  });

  it("shows the interviewer's latest line with words as the question", () => {
    const lines = [
      line("q1", 1, "First question?", true, "interviewer"),
      line("a1", 2, "An answer", true),
      line("q2", 3, "Second question?", false, "interviewer"),
      line("q3", 4, "  ", false, "interviewer"),
    ];
    expect(currentQuestion(lines)?.item_id).toBe("q2");
    expect(currentQuestion([line("a1", 1, "hi", true)])).toBeUndefined();
  });

  it("formats times and meter levels", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(75_400)).toBe("1:15");
    expect(clock(3_726_000)).toBe("1:02:06");
    expect(meterPercent(-100)).toBe(0);
    expect(meterPercent(-30)).toBe(50);
    expect(meterPercent(3)).toBe(100);
    expect(meterPercent(Number.NEGATIVE_INFINITY)).toBe(0);
  });
});
