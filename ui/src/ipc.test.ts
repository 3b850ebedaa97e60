import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it } from "vitest";
import { loadAppInfo, toAppError } from "./ipc";

afterEach(() => clearMocks());

describe("loadAppInfo", () => {
  it("returns the app facts the core sends", async () => {
    const info = {
      version: "0.1.0",
      build: "b",
      profile: "debug",
      dataDir: "/d",
      logDir: "/l",
      transcripts: { sessions: 0, waitingLines: 0, recovered: 0, problem: null },
    };
    mockIPC((cmd) => (cmd === "app_info" ? info : undefined));
    expect(await loadAppInfo()).toEqual({ ok: true, value: info });
  });

  it("passes a typed core error through unchanged", async () => {
    const error = { code: "path_unavailable", message: "no data dir" };
    mockIPC(() => {
      throw error;
    });
    expect(await loadAppInfo()).toEqual({ ok: false, error });
  });

  it("turns an unexpected failure into an ipc_failed error with a readable message", async () => {
    mockIPC(() => {
      throw new Error("channel closed");
    });
    const outcome = await loadAppInfo();
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error.code).toBe("ipc_failed");
      expect(outcome.error.message).toContain("channel closed");
    }
  });
});

describe("toAppError", () => {
  it("keeps well-formed errors and wraps anything else", () => {
    expect(toAppError({ code: "x", message: "y" })).toEqual({ code: "x", message: "y" });
    expect(toAppError("boom")).toEqual({
      code: "ipc_failed",
      message: "Viva's core did not answer: boom",
    });
    expect(toAppError({ code: 3, message: "y" }).code).toBe("ipc_failed");
  });
});

describe("accountApi", () => {
  it("turns a bare string refusal from Tauri into a readable error", async () => {
    mockIPC(() => {
      throw "Command set_backend not allowed by ACL";
    });
    const { accountApi } = await import("./ipc");
    const outcome = await accountApi.setBackend("https://a.example", "anon");
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error.code).toBe("ipc_failed");
      expect(outcome.error.message).toContain("not allowed by ACL");
    }
  });
});
