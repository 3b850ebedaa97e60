import { cleanup, render, screen } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import { AboutPanel } from "./AboutPanel";
import type { DiagnosticsApi } from "./Diagnostics";

const noDiagnostics: DiagnosticsApi = {
  save: () => Promise.resolve({ ok: true, value: null }),
  watchMenu: () => {},
};

const info = {
  version: "1.4.2",
  build: "abc1234567",
  profile: "release",
  dataDir: "/home/ada/.local/share/app.viva.desktop",
  logDir: "/home/ada/.local/share/app.viva.desktop/logs",
  transcripts: { sessions: 12, waitingLines: 0, recovered: 0, problem: null },
};

afterEach(cleanup);

describe("AboutPanel", () => {
  it("shows the version, build and folders a bug report needs", () => {
    render(() => <AboutPanel result={{ ok: true, value: info }} diagnostics={noDiagnostics} />);
    expect(screen.getByTestId("app-version").textContent).toBe("1.4.2");
    expect(screen.getByTestId("app-build").textContent).toBe("abc1234567 (release)");
    expect(screen.getByTestId("app-data-dir").textContent).toBe(info.dataDir);
    expect(screen.getByTestId("app-log-dir").textContent).toBe(info.logDir);
    expect(screen.getByTestId("app-transcripts").textContent).toBe(
      "12 sessions saved on this computer",
    );
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says what waits to sync, what a crash left, and a damaged file", () => {
    const problem = "The transcript database was damaged (…). It was moved to /x.damaged-1.";
    const transcripts = { sessions: 1, waitingLines: 3, recovered: 1, problem };
    render(() => (
      <AboutPanel
        result={{ ok: true, value: { ...info, transcripts } }}
        diagnostics={noDiagnostics}
      />
    ));
    expect(screen.getByTestId("app-transcripts").textContent).toBe(
      "1 session saved on this computer; 3 lines waiting to sync; 1 interview interrupted by a crash recovered with every saved line",
    );
    expect(screen.getByRole("alert").textContent).toBe(problem);
  });

  it("shows an error as an alert with its code, and no stale facts", () => {
    const error = {
      code: "path_unavailable" as const,
      message: "Viva cannot find its data directory",
    };
    render(() => <AboutPanel result={{ ok: false, error }} diagnostics={noDiagnostics} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toBe("Viva cannot find its data directory");
    expect(alert.dataset.code).toBe("path_unavailable");
    expect(screen.queryByTestId("app-version")).toBeNull();
  });
});
