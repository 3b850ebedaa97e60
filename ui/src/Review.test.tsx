import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import type { ExportFormat, Outcome, ReviewApi, TranscriptView } from "./ipc";
import { Review } from "./Review";

afterEach(cleanup);

const ok = <T,>(value: T): Promise<Outcome<T>> => Promise.resolve({ ok: true, value });

const transcript: TranscriptView = {
  session: {
    id: "sess_1",
    title: "Practice",
    mode: "practice",
    status: "completed",
    startedAtMs: Date.UTC(2026, 10, 23, 9, 0),
    durationMs: 95_000,
    costUsd: null,
    lines: 3,
    sync: { state: "local_only" },
    refusedLines: 0,
  },
  insights: {
    candidateTalkMs: 4_000,
    interviewerTalkMs: 7_000,
    candidateShare: 4 / 11,
    wordsPerMinute: 75,
    averageLatencyMs: 1_000,
    longestPauseMs: 57_000,
    longestPauseAtMs: 8_000,
    fillers: [{ filler: "um", count: 2 }],
    fillerTotal: 2,
    questions: [
      {
        question: "Tell me about a project you led.",
        askedMs: 0,
        latencyMs: 1_000,
        answerMs: 4_000,
        answerWords: 5,
      },
      {
        question: "What would you change in the migration?",
        askedMs: 65_000,
        latencyMs: null,
        answerMs: 0,
        answerWords: 0,
      },
    ],
  },
  lines: [
    {
      itemId: "a",
      speaker: "interviewer",
      text: "Tell me about a project you led.",
      atMs: 0,
      endMs: 3_000,
      inaudible: false,
      interrupted: false,
      refused: null,
      late: false,
      flag: null,
    },
    {
      itemId: "b",
      speaker: "candidate",
      text: "I led the billing migration.",
      atMs: 4_000,
      endMs: 8_000,
      inaudible: false,
      interrupted: false,
      refused: null,
      late: false,
      flag: null,
    },
    {
      itemId: "c",
      speaker: "interviewer",
      text: "What would you change in the migration?",
      atMs: 65_000,
      endMs: 69_000,
      inaudible: false,
      interrupted: false,
      refused: null,
      late: false,
      flag: null,
    },
  ],
  source: { kind: "this_computer" },
  record: { kind: "original" },
};

function show(api: Partial<ReviewApi> = {}) {
  const exported: ExportFormat[] = [];
  const full: ReviewApi = {
    openTranscript: () => ok(transcript),
    exportTranscript: (_id, format) => {
      exported.push(format);
      return ok(`/home/ada/Practice.${format === "markdown" ? "md" : format}`);
    },
    ...api,
  };
  render(() => <Review api={full} sessionId="sess_1" onBack={() => {}} />);
  return exported;
}

describe("transcript review", () => {
  it("says which lines the server refused and why, and which arrived late", async () => {
    const [first, second, third] = transcript.lines;
    show({
      openTranscript: () =>
        ok({
          ...transcript,
          session: { ...transcript.session, refusedLines: 1 },
          lines: [
            first,
            { ...second, refused: "the line ends before it starts (ends_before_start)" },
            { ...third, late: true },
          ],
        } as TranscriptView),
    });
    const lines = await screen.findAllByTestId("review-line");
    expect(lines[0]?.querySelector("[data-testid=line-refused]")).toBeNull();
    expect(lines[1]?.querySelector("[data-testid=line-refused]")?.textContent).toContain(
      "ends before it starts",
    );
    expect(lines[2]?.querySelector("[data-testid=line-late]")).not.toBeNull();
    expect(screen.getAllByTestId("line-late")).toHaveLength(1);
    expect(screen.getByTestId("review-refused").textContent).toContain("1 line was refused");
  });

  it("shows who said what and when", async () => {
    show();
    await waitFor(() => expect(screen.getAllByTestId("review-line")).toHaveLength(3));
    const second = screen.getAllByTestId("review-line")[1] as HTMLElement;
    expect(second.dataset.speaker).toBe("candidate");
    expect(second.textContent).toContain("Candidate");
    expect(second.textContent).toContain("0:04");
    expect(screen.getByTestId("review-meta").textContent).toContain("1:35");
  });

  it("offers the way back before the first line, not after the last", async () => {
    show();
    const [first] = await screen.findAllByTestId("review-line");
    const back = screen.getByTestId("review-back");
    expect(
      back.compareDocumentPosition(first as Node) & Node.DOCUMENT_POSITION_FOLLOWING,
    ).toBeTruthy();
  });

  it("marks the lines the signalling service's record contradicts, with what it heard", async () => {
    const [first, second, third] = transcript.lines;
    show({
      openTranscript: () =>
        ok({
          ...transcript,
          source: { kind: "server" },
          record: { kind: "checked", judged: 3, flagged: 2, unjudged: 1 },
          lines: [
            first,
            {
              ...second,
              flag: { kind: "heardDifferently", heard: "I watched the billing migration." },
            },
            { ...third, flag: { kind: "notHeard" } },
          ],
        } as TranscriptView),
    });
    const lines = await screen.findAllByTestId("review-line");
    expect(lines[0]?.querySelector("[data-testid=line-flag]")).toBeNull();
    expect(lines[0]?.classList.contains("flagged")).toBe(false);
    expect(lines[1]?.querySelector("[data-testid=line-flag]")?.textContent).toBe(
      "The signalling service heard: “I watched the billing migration.”",
    );
    expect(lines[1]?.classList.contains("flagged")).toBe(true);
    expect(lines[2]?.querySelector("[data-testid=line-flag]")?.textContent).toContain(
      "did not hear this",
    );
    const notice = screen.getByTestId("review-record");
    expect(notice.textContent).toContain("2 lines differ from what the signalling service heard");
    expect(notice.textContent).toContain("1 line was said while it was not listening");
    expect(notice.classList.contains("warning")).toBe(true);
  });

  it("says an honest transcript matched the record, and says nothing about an original", async () => {
    show();
    await screen.findAllByTestId("review-line");
    expect(screen.queryByTestId("review-record")).toBeNull();
    cleanup();
    show({
      openTranscript: () =>
        ok({
          ...transcript,
          source: { kind: "server" },
          record: { kind: "checked", judged: 3, flagged: 0, unjudged: 0 },
        } as TranscriptView),
    });
    const notice = await screen.findByTestId("review-record");
    expect(notice.textContent).toBe(
      "Checked against the signalling service's record: 3 lines match what it heard.",
    );
    expect(notice.classList.contains("warning")).toBe(false);
    expect(screen.queryAllByTestId("line-flag")).toHaveLength(0);
  });

  it("marks a copy kept from the server as possibly out of date, and an original not at all", async () => {
    show();
    await screen.findAllByTestId("review-line");
    expect(screen.queryByTestId("review-stale")).toBeNull();
    cleanup();
    show({
      openTranscript: () =>
        ok({
          ...transcript,
          source: {
            kind: "copy",
            readAtMs: Date.UTC(2026, 10, 20, 14, 5),
            reason: "The backend cannot be reached.",
          },
        }),
    });
    const stale = await screen.findByTestId("review-stale");
    expect(stale.textContent).toContain("may be out of date");
    expect(stale.textContent).toContain("2026");
    expect(stale.textContent).toContain("The backend cannot be reached.");
  });

  it("shows the interview's insights", async () => {
    show();
    await waitFor(() =>
      expect(screen.getByTestId("insight-share").textContent).toContain("Candidate 36 %"),
    );
    expect(screen.getByTestId("insight-pace").textContent).toBe("75 words per minute");
    expect(screen.getByTestId("insight-latency").textContent).toContain("1.0 s");
    expect(screen.getByTestId("insight-pause").textContent).toBe("57.0 s at 0:08");
    expect(screen.getByTestId("insight-fillers").textContent).toContain("“um”");
    const rows = screen.getByTestId("insight-questions").querySelectorAll("tbody tr");
    expect(rows).toHaveLength(2);
    expect(rows[1]?.textContent).toContain("no answer");
  });

  it("shows the first questions of a long interview and all of them when asked", async () => {
    const questions = Array.from({ length: 25 }, (_, i) => ({
      question: `Question ${i + 1}?`,
      askedMs: i * 60_000,
      latencyMs: 1_000,
      answerMs: 30_000,
      answerWords: 40,
    }));
    show({
      openTranscript: () => ok({ ...transcript, insights: { ...transcript.insights, questions } }),
    });
    const more = await screen.findByTestId("insight-questions-all");
    const rows = () => screen.getByTestId("insight-questions").querySelectorAll("tbody tr");
    expect(rows()).toHaveLength(10);
    expect(more.textContent).toBe("Show all 25 questions");
    fireEvent.click(more);
    expect(rows()).toHaveLength(25);
    expect(rows()[24]?.textContent).toContain("Question 25?");
    expect(screen.queryByTestId("insight-questions-all")).toBeNull();
  });

  it("finds words, marks them and steps through the matches", async () => {
    show();
    const find = await screen.findByTestId("review-find");
    find.focus();
    fireEvent.input(find, { target: { value: "migration" } });
    await waitFor(() => expect(screen.getByTestId("review-matches").textContent).toBe("1 of 2"));
    // Typing goes on in the find box; the first match is only scrolled to.
    expect(document.activeElement).toBe(find);
    expect(document.querySelectorAll("mark")).toHaveLength(2);
    fireEvent.click(screen.getByTestId("review-next"));
    expect(screen.getByTestId("review-matches").textContent).toBe("2 of 2");
    expect(document.activeElement?.getAttribute("data-index")).toBe("2");
    fireEvent.input(find, { target: { value: "zebra" } });
    expect(screen.getByTestId("review-matches").textContent).toBe("No match");
  });

  it("opens at the line a search hit named", async () => {
    render(() => (
      <Review
        api={{ openTranscript: () => ok(transcript), exportTranscript: () => ok(null) }}
        sessionId="sess_1"
        focusItem="c"
        onBack={() => {}}
      />
    ));
    await waitFor(() => expect(document.activeElement?.getAttribute("data-index")).toBe("2"));
  });

  it("jumps to the line spoken at a time", async () => {
    show();
    const jump = await screen.findByTestId("review-jump");
    fireEvent.input(jump, { target: { value: "0:30" } });
    fireEvent.submit(jump.closest("form") as HTMLFormElement);
    expect(document.activeElement?.getAttribute("data-index")).toBe("1");
  });

  it("exports in the chosen format and says where it went", async () => {
    const exported = show();
    const format = (await screen.findByTestId("export-format")) as HTMLSelectElement;
    fireEvent.change(format, { target: { value: "vtt" } });
    fireEvent.click(screen.getByTestId("export"));
    await waitFor(() =>
      expect(screen.getByTestId("review-notice").textContent).toBe(
        "Saved to /home/ada/Practice.vtt",
      ),
    );
    expect(exported).toEqual(["vtt"]);
  });

  it("says nothing when the save dialog is cancelled, and shows a failed save", async () => {
    let answer: Outcome<string | null> = { ok: true, value: null };
    show({ exportTranscript: () => Promise.resolve(answer) });
    fireEvent.click(await screen.findByTestId("export"));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(screen.queryByTestId("review-notice")).toBeNull();
    answer = { ok: false, error: { code: "unavailable", message: "The disk is full." } };
    fireEvent.click(screen.getByTestId("export"));
    await waitFor(() =>
      expect(screen.getByTestId("review-notice").textContent).toBe("The disk is full."),
    );
  });

  it("explains a transcript that cannot be opened", async () => {
    show({
      openTranscript: () =>
        Promise.resolve({
          ok: false,
          error: { code: "not_found", message: "No transcript sess_1 is kept on this computer." },
        }),
    });
    await waitFor(() =>
      expect(screen.getByTestId("review-error").textContent).toContain("No transcript"),
    );
  });
});
