import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { createSignal } from "solid-js";
import { afterEach, describe, expect, it } from "vitest";
import type { InstallView, Outcome, UpdateCheckView, UpdatesApi } from "./ipc";
import { megabytes, Updates } from "./Updates";

afterEach(cleanup);

const ok = <T,>(value: T): Promise<Outcome<T>> => Promise.resolve({ ok: true, value });

const available: UpdateCheckView = {
  state: "available",
  version: "1.2.0",
  current: "0.1.0",
  notes: "Faster search.",
  published: null,
  install: "in_place",
};

function api(overrides: Partial<UpdatesApi> = {}): UpdatesApi {
  return {
    check: () => ok(available),
    download: (onProgress) => {
      onProgress({ downloaded: 512 * 1024, total: 1024 * 1024 });
      onProgress({ downloaded: 1024 * 1024, total: 1024 * 1024 });
      return ok("1.2.0");
    },
    install: () => ok<InstallView>({ state: "restarting" }),
    channel: () => Promise.resolve("stable"),
    setChannel: (channel) => ok(channel),
    watchMenu: () => {},
    ...overrides,
  };
}

describe("updates", () => {
  it("says a build without a release key is not set up for updates and offers no download", async () => {
    let downloads = 0;
    render(() => (
      <Updates
        api={api({
          check: () => ok<UpdateCheckView>({ state: "not_set_up" }),
          download: () => {
            downloads += 1;
            return ok("never");
          },
        })}
      />
    ));
    await waitFor(() =>
      expect(screen.getByTestId("update-status").textContent).toContain(
        "Updates are not set up for this build",
      ),
    );
    expect(screen.queryByTestId("update-download")).toBeNull();
    expect(downloads).toBe(0);
  });

  it("offers a newer version at launch and shows the download's progress until verified", async () => {
    render(() => <Updates api={api()} />);
    await waitFor(() =>
      expect(screen.getByTestId("update-status").textContent).toContain("1.2.0 is available"),
    );
    expect(screen.getByTestId("update-notes").textContent).toBe("Faster search.");
    fireEvent.click(screen.getByTestId("update-download"));
    await waitFor(() =>
      expect(screen.getByTestId("update-status").textContent).toContain("verified"),
    );
    const bar = screen.getByTestId("update-progress") as HTMLProgressElement;
    expect([bar.value, bar.max]).toEqual([1024 * 1024, 1024 * 1024]);
    expect(screen.getByTestId("update-install")).toBeTruthy();
  });

  it("stays out of an interview with nothing to act on, and never installs unasked", async () => {
    const [live, setLive] = createSignal(true);
    const asked: boolean[] = [];
    const updates = api({
      install: () => {
        // The core defers while the call is live.
        asked.push(live());
        return ok<InstallView>({ state: live() ? "deferred" : "restarting" });
      },
    });
    render(() => <Updates api={updates} live={live()} compact />);
    // Nothing to act on yet: the compact bar stays out of the interview's way.
    await waitFor(() => expect(asked).toEqual([]));
    expect(screen.queryByTestId("updates")).toBeNull();
    setLive(false);
    setLive(true);
    expect(asked).toEqual([]);
  });

  it("installs after the interview a download verified during it", async () => {
    const [live, setLive] = createSignal(false);
    const asked: boolean[] = [];
    const updates = api({
      install: () => {
        asked.push(live());
        return ok<InstallView>({ state: live() ? "deferred" : "restarting" });
      },
    });
    render(() => <Updates api={updates} live={live()} />);
    fireEvent.click(await screen.findByTestId("update-download"));
    setLive(true);
    const install = await screen.findByTestId("update-install");
    expect(install.textContent).toBe("Install when the interview ends");
    fireEvent.click(install);
    await waitFor(() =>
      expect(screen.getByTestId("update-status").textContent).toContain("interview ends"),
    );
    expect(asked).toEqual([true]);
    setLive(false);
    await waitFor(() => expect(asked).toEqual([true, false]));
  });

  it("comes up on any screen when the menu asks, and checks the server", async () => {
    let menu = () => {};
    const manual: boolean[] = [];
    const updates = api({
      check: (asked) => {
        manual.push(asked);
        return ok({ state: "up_to_date", current: "0.1.0" });
      },
      watchMenu: (listener) => {
        menu = listener;
      },
    });
    render(() => <Updates api={updates} compact />);
    await waitFor(() => expect(manual).toEqual([false]));
    expect(screen.queryByTestId("updates")).toBeNull();
    menu();
    await waitFor(() =>
      expect(screen.getByTestId("update-status").textContent).toBe("Viva 0.1.0 is up to date."),
    );
    expect(manual).toEqual([false, true]);
    expect(screen.queryByTestId("update-channel")).toBeNull();
    fireEvent.click(screen.getByTestId("update-dismiss"));
    expect(screen.queryByTestId("updates")).toBeNull();
  });

  it("brings the panel into view when asked from the menu on a long page", async () => {
    let menu = () => {};
    const scrolled: Element[] = [];
    const original = Element.prototype.scrollIntoView;
    Element.prototype.scrollIntoView = function (this: Element) {
      scrolled.push(this);
    };
    try {
      render(() => (
        <Updates
          api={api({
            watchMenu: (listener) => {
              menu = listener;
            },
          })}
        />
      ));
      await screen.findByTestId("update-download");
      expect(scrolled).toEqual([]);
      menu();
      expect(scrolled).toEqual([screen.getByTestId("updates")]);
    } finally {
      Element.prototype.scrollIntoView = original;
    }
  });

  it("shows a refused download and lets the user try again", async () => {
    render(() => (
      <Updates
        api={api({
          download: () =>
            Promise.resolve({
              ok: false,
              error: { code: "update_refused", message: "not signed with Viva's release key" },
            }),
        })}
      />
    ));
    fireEvent.click(await screen.findByTestId("update-download"));
    await waitFor(() =>
      expect(screen.getByTestId("update-error").textContent).toContain("release key"),
    );
    expect(screen.queryByTestId("update-install")).toBeNull();
    expect(screen.getByTestId("update-download")).toBeTruthy();
  });

  it("explains that a .deb install updates through the package manager", async () => {
    render(() => (
      <Updates api={api({ check: () => ok({ ...available, install: "package_manager" }) })} />
    ));
    await waitFor(() =>
      expect(screen.getByTestId("updates").textContent).toContain("package manager"),
    );
    expect(screen.queryByTestId("update-download")).toBeNull();
  });

  it("says when Viva is up to date", async () => {
    render(() => (
      <Updates api={api({ check: () => ok({ state: "up_to_date", current: "0.1.0" }) })} />
    ));
    await waitFor(() =>
      expect(screen.getByTestId("update-status").textContent).toBe("Viva 0.1.0 is up to date."),
    );
    expect(megabytes(1.5 * 1024 * 1024)).toBe("1.5 MB");
  });
});
