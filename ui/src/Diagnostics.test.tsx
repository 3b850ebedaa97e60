import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { afterEach, describe, expect, it } from "vitest";
import { type DiagnosticsApi, DiagnosticsNotice, SaveDiagnosticsButton } from "./Diagnostics";
import type { Outcome } from "./ipc";

afterEach(cleanup);

function fakeApi(answer: Outcome<string | null>) {
  let menu: (() => void) | undefined;
  let saves = 0;
  const api: DiagnosticsApi = {
    save: () => {
      saves += 1;
      return Promise.resolve(answer);
    },
    watchMenu: (listener) => {
      menu = listener;
    },
  };
  return { api, choose: () => menu?.(), saves: () => saves };
}

function show(api: DiagnosticsApi) {
  render(() => (
    <>
      <DiagnosticsNotice api={api} />
      <SaveDiagnosticsButton api={api} />
    </>
  ));
}

describe("diagnostics", () => {
  it("saves from the menu and says where, and that nothing private is in it", async () => {
    const fake = fakeApi({ ok: true, value: "/home/g/viva-diagnostics.zip" });
    show(fake.api);
    fake.choose();
    const notice = await screen.findByTestId("diagnostics-notice");
    await waitFor(() => expect(notice.dataset.state).toBe("saved"));
    expect(notice.textContent).toContain("/home/g/viva-diagnostics.zip");
    expect(notice.textContent).toContain("no tokens");
    fireEvent.click(screen.getByTestId("diagnostics-dismiss"));
    expect(screen.queryByTestId("diagnostics-notice")).toBeNull();
  });

  it("says nothing when the dialog is cancelled, and shows why a save failed", async () => {
    const cancelled = fakeApi({ ok: true, value: null });
    show(cancelled.api);
    fireEvent.click(screen.getByTestId("save-diagnostics"));
    await waitFor(() => expect(cancelled.saves()).toBe(1));
    await waitFor(() => expect(screen.queryByTestId("diagnostics-notice")).toBeNull());
    cleanup();
    const failed = fakeApi({
      ok: false,
      error: { code: "unavailable", message: "The diagnostics could not be saved to /x: full" },
    });
    show(failed.api);
    fireEvent.click(screen.getByTestId("save-diagnostics"));
    const notice = await screen.findByTestId("diagnostics-notice");
    await waitFor(() => expect(notice.dataset.state).toBe("failed"));
    expect(notice.getAttribute("role")).toBe("alert");
    expect(notice.textContent).toContain("could not be saved to /x: full");
  });
});
