import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import type {
  Outcome,
  ScheduleRequest,
  SessionListRequest,
  SessionListView,
  SessionsApi,
} from "./ipc";
import { localToRfc3339 } from "./Schedule";
import { dayStart, PAGE_SIZE, pagesFor, ROW_HEIGHT, Sessions } from "./Sessions";

afterEach(cleanup);

/** A backend with `total` sessions; it records what it was asked. */
function backend(
  total: number,
  source: "server" | "local" = "server",
  staleReason?: string,
  canSchedule = source === "server",
) {
  const asked: SessionListRequest[] = [];
  const scheduled: ScheduleRequest[] = [];
  const cancelled: string[] = [];
  const api: SessionsApi = {
    list: (request) => {
      asked.push(request);
      const matching = request.titleContains ? Math.floor(total / 10) : total;
      const rows = [];
      for (let i = request.offset; i < Math.min(matching, request.offset + request.limit); i++) {
        rows.push({
          id: `s${i}`,
          title: `Interview ${i}`,
          candidate: source === "server" ? `c${i}@acme.test` : null,
          mode: "interview",
          status: i === 0 ? "scheduled" : "completed",
          atMs: Date.UTC(2026, 10, 1),
          durationMs: 600_000,
          sync: null,
        });
      }
      const view: SessionListView = {
        rows,
        total: matching,
        source,
        staleReason: staleReason ?? null,
        canSchedule,
      };
      return Promise.resolve({ ok: true, value: view } as Outcome<SessionListView>);
    },
    search: (request) =>
      Promise.resolve({
        ok: true,
        value: [
          {
            sessionId: "s7",
            sessionTitle: "Platform engineer",
            sessionStartedAtMs: Date.UTC(2026, 10, 1),
            itemId: "item_3",
            speaker: "candidate",
            atMs: 65_000,
            snippet: [
              { text: "I cut the build with a ", hit: false },
              { text: request.text, hit: true },
            ],
          },
        ],
      }),
    schedule: (request) => {
      scheduled.push(request);
      return Promise.resolve({ ok: true, value: "s_new" });
    },
    cancel: (id) => {
      cancelled.push(id);
      return Promise.resolve({ ok: true, value: true });
    },
  };
  return { api, asked, scheduled, cancelled };
}

describe("interviews list", () => {
  it("lays out only the rows in view of ten thousand, and fetches pages as they come into view", async () => {
    const { api, asked } = backend(10_000);
    render(() => <Sessions api={api} onOpen={() => {}} onBack={() => {}} />);
    await waitFor(() =>
      expect(screen.getByTestId("sessions-count").textContent).toBe("10000 interviews"),
    );
    expect(screen.getAllByTestId("session-row").length).toBeLessThan(40);
    expect(asked.map((r) => r.offset)).toEqual([0]);

    const viewport = screen.getByTestId("sessions-viewport");
    viewport.scrollTop = 5_000 * ROW_HEIGHT;
    fireEvent.scroll(viewport);
    await waitFor(() =>
      expect(document.querySelector('[data-index="5000"]')?.getAttribute("data-id")).toBe("s5000"),
    );
    expect(asked.map((r) => r.offset)).toContain(50 * PAGE_SIZE);
    expect(asked.length).toBeLessThanOrEqual(3);
    expect(screen.getAllByTestId("session-row").length).toBeLessThan(40);
  });

  it("fetches the next page before it scrolls into view, so its rows never show Loading", async () => {
    const { api, asked } = backend(10_000);
    render(() => <Sessions api={api} onOpen={() => {}} onBack={() => {}} />);
    await waitFor(() => expect(asked.map((r) => r.offset)).toEqual([0]));
    const viewport = screen.getByTestId("sessions-viewport");

    // Row 60 at the top: the rows in view all come from the first page…
    viewport.scrollTop = 60 * ROW_HEIGHT;
    fireEvent.scroll(viewport);
    expect(document.querySelector('[data-index="100"]')).toBeNull();
    // …yet the second is asked for now.
    await waitFor(() => expect(asked.map((r) => r.offset)).toEqual([0, PAGE_SIZE]));

    // When row 100 scrolls into view it is already filled in.
    viewport.scrollTop = 100 * ROW_HEIGHT;
    fireEvent.scroll(viewport);
    expect(document.querySelector('[data-index="100"]')?.getAttribute("data-id")).toBe("s100");
    expect(asked.length).toBe(2);
  });

  it("asks the backend again when a filter changes", async () => {
    const { api, asked } = backend(300);
    render(() => <Sessions api={api} onOpen={() => {}} onBack={() => {}} />);
    await screen.findAllByTestId("session-row");
    fireEvent.input(screen.getByTestId("filter-title"), { target: { value: "Engineer" } });
    await waitFor(() =>
      expect(screen.getByTestId("sessions-count").textContent).toBe("30 interviews"),
    );
    expect(asked.at(-1)?.titleContains).toBe("Engineer");
    expect(asked.at(-1)?.offset).toBe(0);
    fireEvent.change(screen.getByTestId("filter-status"), { target: { value: "completed" } });
    await waitFor(() => expect(asked.at(-1)?.status).toBe("completed"));
  });

  it("opens the chosen interview", async () => {
    const { api } = backend(3);
    let opened: string | undefined;
    render(() => (
      <Sessions
        api={api}
        onOpen={(id) => {
          opened = id;
        }}
        onBack={() => {}}
      />
    ));
    const rows = await screen.findAllByTestId("session-row");
    fireEvent.click(rows[1]?.querySelector("button") as HTMLButtonElement);
    expect(opened).toBe("s1");
  });

  it("says when the server is unreachable and this computer's list is shown", async () => {
    const { api } = backend(2, "local", "connection refused");
    render(() => <Sessions api={api} onOpen={() => {}} onBack={() => {}} />);
    await waitFor(() =>
      expect(screen.getByTestId("sessions-stale").textContent).toContain("connection refused"),
    );
    expect(screen.getByTestId("sessions-count").textContent).toBe("2 interviews on this computer");
    expect(screen.getByTestId("filter-sync")).toBeTruthy();
    expect(screen.queryByTestId("filter-candidate")).toBeNull();
  });

  it("searches the transcripts and opens a hit at its line", async () => {
    const { api } = backend(3, "local");
    let opened: [string, string | undefined] | undefined;
    render(() => (
      <Sessions
        api={api}
        onOpen={(id, item) => {
          opened = [id, item];
        }}
        onBack={() => {}}
      />
    ));
    fireEvent.input(screen.getByTestId("search-text"), { target: { value: "cache" } });
    fireEvent.click(screen.getByTestId("search-submit"));
    const hit = await screen.findByTestId("search-hit");
    expect(hit.querySelector("mark")?.textContent).toBe("cache");
    expect(hit.textContent).toContain("Candidate at 1:05");
    fireEvent.click(hit.querySelector("button") as HTMLButtonElement);
    expect(opened).toEqual(["s7", "item_3"]);
  });

  it("schedules an interview and cancels a scheduled one, reading the list again each time", async () => {
    const { api, asked, scheduled, cancelled } = backend(3);
    render(() => <Sessions api={api} onOpen={() => {}} onBack={() => {}} />);
    await screen.findAllByTestId("session-row");
    fireEvent.input(screen.getByTestId("schedule-email"), { target: { value: "ada@acme.test" } });
    fireEvent.input(screen.getByTestId("schedule-title"), {
      target: { value: "Platform engineer" },
    });
    fireEvent.input(screen.getByTestId("schedule-when"), { target: { value: "2026-12-01T09:30" } });
    const before = asked.length;
    fireEvent.submit(screen.getByTestId("schedule-form"));
    await waitFor(() =>
      expect(screen.getByTestId("sessions-notice").textContent).toContain("Scheduled"),
    );
    expect(scheduled[0]?.candidateEmail).toBe("ada@acme.test");
    expect(scheduled[0]?.scheduledAt.startsWith("2026-12-01T09:30:00")).toBe(true);
    // The list was read again, from the top.
    await waitFor(() => expect(asked.length).toBeGreaterThan(before));
    expect(asked.at(-1)?.offset).toBe(0);
    fireEvent.click(await screen.findByTestId("session-cancel"));
    await waitFor(() =>
      expect(screen.getByTestId("sessions-notice").textContent).toBe(
        "The interview was cancelled.",
      ),
    );
    expect(cancelled).toEqual(["s0"]);
  });

  it("offers a candidate neither scheduling nor cancelling", async () => {
    const { api } = backend(3, "server", undefined, false);
    render(() => <Sessions api={api} onOpen={() => {}} onBack={() => {}} />);
    await screen.findAllByTestId("session-row");
    expect(screen.queryByTestId("schedule-form")).toBeNull();
    expect(screen.queryByTestId("session-cancel")).toBeNull();
  });

  it("writes the chosen local time with its offset", () => {
    const written = localToRfc3339("2026-12-01T09:30") ?? "";
    expect(new Date(written).getTime()).toBe(new Date(2026, 11, 1, 9, 30).getTime());
    expect(localToRfc3339("")).toBeUndefined();
  });

  it("covers a row range with the pages that hold it", () => {
    expect(pagesFor(0, 30)).toEqual([0]);
    expect(pagesFor(95, 205)).toEqual([0, 1, 2]);
    expect(pagesFor(5, 4)).toEqual([]);
  });

  it("reads a day as local midnight, and the day after for an inclusive end", () => {
    expect(dayStart("2026-11-23")).toBe(new Date(2026, 10, 23).getTime());
    expect(dayStart("2026-11-23", 1)).toBe(new Date(2026, 10, 24).getTime());
    expect(dayStart("")).toBeNull();
  });
});
