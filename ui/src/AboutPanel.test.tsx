import { cleanup, render, screen } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import { AboutPanel } from "./AboutPanel";

const info = {
  version: "1.4.2",
  build: "abc1234567",
  profile: "release",
  dataDir: "/home/ada/.local/share/app.viva.desktop",
  logDir: "/home/ada/.local/share/app.viva.desktop/logs",
};

afterEach(cleanup);

describe("AboutPanel", () => {
  it("shows the version, build and folders a bug report needs", () => {
    render(() => <AboutPanel result={{ ok: true, value: info }} />);
    expect(screen.getByTestId("app-version").textContent).toBe("1.4.2");
    expect(screen.getByTestId("app-build").textContent).toBe("abc1234567 (release)");
    expect(screen.getByTestId("app-data-dir").textContent).toBe(info.dataDir);
    expect(screen.getByTestId("app-log-dir").textContent).toBe(info.logDir);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows an error as an alert with its code, and no stale facts", () => {
    const error = {
      code: "path_unavailable" as const,
      message: "Viva cannot find its data directory",
    };
    render(() => <AboutPanel result={{ ok: false, error }} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toBe("Viva cannot find its data directory");
    expect(alert.dataset.code).toBe("path_unavailable");
    expect(screen.queryByTestId("app-version")).toBeNull();
  });
});
