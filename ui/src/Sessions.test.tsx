import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import type { Outcome, SessionListRequest, SessionListView, SessionsApi } from "./ipc";
import { dayStart, PAGE_SIZE, pagesFor, ROW_HEIGHT, Sessions } from "./Sessions";

afterEach(cleanup);

/** A backend with `total` sessions; it records what it was asked. */
function backend(total: number, source: "server" | "local" = "server", staleReason?: string) {
  const asked: SessionListRequest[] = [];
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
          status: "completed",
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
      };
      return Promise.resolve({ ok: true, value: view } as Outcome<SessionListView>);
    },
  };
  return { api, asked };
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
