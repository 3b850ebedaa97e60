import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import type { UpcomingView } from "./ipc";
import { countdown, Upcoming } from "./Upcoming";

afterEach(cleanup);

describe("upcoming interviews", () => {
  it("counts down in words a person reads at a glance", () => {
    const now = Date.parse("2026-11-23T10:00:00Z");
    expect(countdown(now - 5_000, now)).toBe("now");
    expect(countdown(now + 45_000, now)).toBe("in 45 s");
    expect(countdown(now + 25 * 60_000, now)).toBe("in 25 min");
    expect(countdown(now + 125 * 60_000, now)).toBe("in 2 h 5 min");
    expect(countdown(now + 72 * 3_600_000, now)).toBe("in 3 days");
  });

  it("lists each interview with its organisation and joins the one chosen", async () => {
    const soon: UpcomingView = {
      id: "s1",
      title: "Backend engineer",
      organisation: "Acme",
      scheduledAt: new Date(Date.now() + 30 * 60_000).toISOString(),
    };
    let joined: string | undefined;
    render(() => (
      <Upcoming
        load={() => Promise.resolve({ ok: true, value: [soon] })}
        onJoin={(interview) => {
          joined = interview.id;
        }}
      />
    ));
    await waitFor(() =>
      expect(screen.getByTestId("upcoming-organisation").textContent).toContain("Acme"),
    );
    expect(screen.getByTestId("upcoming-countdown").textContent).toMatch(/in (29|30) min/);
    fireEvent.click(screen.getByTestId("join"));
    expect(joined).toBe("s1");
  });

  it("says so when nothing is scheduled, and shows why a list failed", async () => {
    render(() => (
      <Upcoming load={() => Promise.resolve({ ok: true, value: [] })} onJoin={() => {}} />
    ));
    await waitFor(() => expect(screen.getByTestId("upcoming-empty")).toBeTruthy());
    cleanup();
    render(() => (
      <Upcoming
        load={() =>
          Promise.resolve({ ok: false, error: { code: "unavailable", message: "offline" } })
        }
        onJoin={() => {}}
      />
    ));
    await waitFor(() =>
      expect(screen.getByTestId("upcoming-error").textContent).toContain("offline"),
    );
  });
});
