import { createEffect, createSignal, For, Index, on, onCleanup, onMount, Show } from "solid-js";
import type {
  SearchHitView,
  SessionListRequest,
  SessionListView,
  SessionRowView,
  SessionsApi,
  Speaker,
} from "./ipc";
import { Schedule } from "./Schedule";
import { clock } from "./transcript";

/** One formatter for every row: building one per call is what makes `toLocaleString` slow. */
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** The speakers a search can be narrowed to. */
const SPEAKERS: readonly Speaker[] = ["candidate", "interviewer"];

/** Rows fetched per request: the backend's page. */
export const PAGE_SIZE = 100;
/** A row's height in pixels: the list only lays out the rows in view. */
export const ROW_HEIGHT = 56;
/** Rows laid out beyond each edge of the view, so a quick scroll does not show blanks. */
const OVERSCAN = 8;
/** Rows fetched ahead of each edge of the view: a page is in before it scrolls into sight. */
const PREFETCH = PAGE_SIZE / 2;

/** The pages that hold rows `first`..=`last`. */
export function pagesFor(first: number, last: number): number[] {
  if (last < first) return [];
  const pages: number[] = [];
  for (let page = Math.floor(first / PAGE_SIZE); page <= Math.floor(last / PAGE_SIZE); page++) {
    pages.push(page);
  }
  return pages;
}

/** Unix ms of the local midnight starting `day` (`YYYY-MM-DD`), `days` later. */
export function dayStart(day: string, days = 0): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return null;
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + days).getTime();
}

function syncLabel(row: SessionRowView): string {
  switch (row.sync?.state) {
    case undefined:
      return "";
    case "synced":
      return "on this computer · uploaded";
    case "pending":
      return `on this computer · ${row.sync.lines} to upload`;
    case "failing":
      return "on this computer · upload failing";
    case "local_only":
      return "this computer only";
    case "cached":
      return `copy read from the server ${DATE_TIME.format(row.sync.at_ms)}`;
    default:
      return "on this computer";
  }
}

/**
 * Every interview the user may review — the organisation's (an interviewer's tenant, or a
 * candidate's own) when signed in, else those kept on this computer — filtered and sorted, fetched
 * a page at a time and laid out only where visible, so ten thousand rows scroll smoothly.
 */
export function Sessions(props: {
  api: SessionsApi;
  /** Opens a transcript, at line `itemId` when a search hit was chosen. */
  onOpen: (sessionId: string, itemId?: string) => void;
  onBack: () => void;
}) {
  const [searchText, setSearchText] = createSignal("");
  const [speaker, setSpeaker] = createSignal<Speaker | null>(null);
  const [hits, setHits] = createSignal<SearchHitView[] | undefined>();
  const [searchError, setSearchError] = createSignal<string | undefined>();
  const search = async (event: SubmitEvent) => {
    event.preventDefault();
    if (searchText().trim() === "") {
      setHits(undefined);
      return;
    }
    const found = await props.api.search({
      text: searchText(),
      speaker: speaker(),
      titleContains: title().trim() || null,
      fromMs: dayStart(from()),
      beforeMs: dayStart(to(), 1),
    });
    if (!found.ok) {
      setSearchError(found.error.message);
      setHits(undefined);
      return;
    }
    setSearchError(undefined);
    setHits(found.value);
  };
  const [status, setStatus] = createSignal("");
  const [title, setTitle] = createSignal("");
  const [candidate, setCandidate] = createSignal("");
  const [from, setFrom] = createSignal("");
  const [to, setTo] = createSignal("");
  const [sync, setSync] = createSignal("");
  const [oldestFirst, setOldestFirst] = createSignal(false);
  // Bumped after scheduling or cancelling: the list is read again.
  const [refresh, setRefresh] = createSignal(0);

  const [rows, setRows] = createSignal<Map<number, SessionRowView>>(new Map());
  const [meta, setMeta] = createSignal<Omit<SessionListView, "rows"> | undefined>();
  const [error, setError] = createSignal<string | undefined>();
  const requested = new Set<number>();
  let generation = 0;

  const request = (page: number): SessionListRequest => ({
    status: status() || null,
    titleContains: title().trim() || null,
    candidateContains: candidate().trim() || null,
    fromMs: dayStart(from()),
    beforeMs: dayStart(to(), 1),
    sync: sync() || null,
    oldestFirst: oldestFirst(),
    offset: page * PAGE_SIZE,
    limit: PAGE_SIZE,
  });

  const load = async (page: number) => {
    if (requested.has(page)) return;
    requested.add(page);
    const asked = generation;
    const result = await props.api.list(request(page));
    if (asked !== generation) return; // the filters changed meanwhile
    if (!result.ok) {
      requested.delete(page);
      setError(result.error.message);
      return;
    }
    setError(undefined);
    const { rows: found, ...rest } = result.value;
    setMeta(rest);
    const next = new Map(rows());
    found.forEach((row, i) => {
      next.set(page * PAGE_SIZE + i, row);
    });
    setRows(next);
  };

  const [scrollTop, setScrollTop] = createSignal(0);
  const [height, setHeight] = createSignal(480);
  let viewport: HTMLDivElement | undefined;
  const total = () => meta()?.total ?? rows().size;
  const visible = () => {
    const first = Math.max(0, Math.floor(scrollTop() / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total() - 1, Math.ceil((scrollTop() + height()) / ROW_HEIGHT) + OVERSCAN);
    const indexes: number[] = [];
    for (let i = first; i <= last; i++) indexes.push(i);
    return indexes;
  };

  // New filters: start over from the first page.
  createEffect(
    on([status, title, candidate, from, to, sync, oldestFirst, refresh], () => {
      generation += 1;
      requested.clear();
      setRows(new Map());
      setMeta(undefined);
      if (viewport) viewport.scrollTop = 0;
      setScrollTop(0);
      void load(0);
    }),
  );
  // Scrolling: fetch the pages in view and those about to come into it, either way.
  createEffect(() => {
    const shown = visible();
    if (meta() === undefined || shown.length === 0) return;
    const first = Math.max(0, (shown[0] ?? 0) - PREFETCH);
    const last = Math.min(total() - 1, (shown[shown.length - 1] ?? 0) + PREFETCH);
    for (const page of pagesFor(first, last)) void load(page);
  });

  onMount(() => {
    // Without ResizeObserver (older webviews, tests) the default height stands.
    if (!viewport || typeof ResizeObserver === "undefined") return;
    setHeight(viewport.clientHeight || 480);
    const observer = new ResizeObserver(() => setHeight(viewport?.clientHeight || 480));
    observer.observe(viewport);
    onCleanup(() => observer.disconnect());
  });

  const server = () => meta()?.source === "server";
  const [notice, setNotice] = createSignal<string | undefined>();
  const cancel = async (id: string) => {
    const done = await props.api.cancel(id);
    if (!done.ok) setError(done.error.message);
    else {
      setNotice(done.value ? "The interview was cancelled." : "It had already started.");
      setRefresh((n) => n + 1);
    }
  };
  const scheduled = (id: string) => {
    setNotice(`Scheduled (${id}). The candidate sees it when they sign in.`);
    setRefresh((n) => n + 1);
  };
  /** Typed filters apply once typing pauses, not on every key. */
  const typed = (set: (value: string) => void) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    onCleanup(() => clearTimeout(timer));
    return (event: InputEvent & { currentTarget: HTMLInputElement }) => {
      const value = event.currentTarget.value;
      clearTimeout(timer);
      timer = setTimeout(() => set(value), 250);
    };
  };
  const onTitle = typed(setTitle);
  const onCandidate = typed(setCandidate);

  return (
    <section class="card sessions" aria-labelledby="sessions-title" data-testid="sessions">
      <h2 id="sessions-title">Interviews</h2>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Status
          <select
            value={status()}
            onChange={(e) => setStatus(e.currentTarget.value)}
            data-testid="filter-status"
          >
            <option value="">Any</option>
            <option value="scheduled">Scheduled</option>
            <option value="active">Active</option>
            <option value="completed">Completed</option>
            <option value="interrupted">Interrupted</option>
            <option value="failed">Failed</option>
            <option value="cancelled">Cancelled</option>
          </select>
        </label>
        <label>
          Title or role
          <input type="search" value={title()} onInput={onTitle} data-testid="filter-title" />
        </label>
        <Show when={server()}>
          <label>
            Candidate
            <input
              type="search"
              value={candidate()}
              onInput={onCandidate}
              data-testid="filter-candidate"
            />
          </label>
        </Show>
        <label>
          From
          <input type="date" value={from()} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To
          <input type="date" value={to()} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <Show when={!server()}>
          <label>
            Sync
            <select
              value={sync()}
              onChange={(e) => setSync(e.currentTarget.value)}
              data-testid="filter-sync"
            >
              <option value="">Any</option>
              <option value="unsynced">Waiting to upload</option>
              <option value="synced">Uploaded</option>
              <option value="local_only">This computer only</option>
              <option value="cached">Copies read from the server</option>
            </select>
          </label>
        </Show>
        <label>
          Sort
          <select
            value={oldestFirst() ? "oldest" : "newest"}
            onChange={(e) => setOldestFirst(e.currentTarget.value === "oldest")}
            data-testid="filter-sort"
          >
            <option value="newest">Newest first</option>
            <option value="oldest">Oldest first</option>
          </select>
        </label>
      </form>
      <form class="search" aria-label="Search transcripts" onSubmit={search}>
        <label>
          Search transcripts on this computer
          <input
            type="search"
            value={searchText()}
            onInput={(e) => setSearchText(e.currentTarget.value)}
            placeholder={'words, "a phrase", or pref*'}
            data-testid="search-text"
          />
        </label>
        <label>
          Said by
          <select
            value={speaker() ?? ""}
            onChange={(e) => {
              const chosen = e.currentTarget.value;
              setSpeaker(SPEAKERS.find((s) => s === chosen) ?? null);
            }}
          >
            <option value="">Anyone</option>
            <option value="candidate">Candidate</option>
            <option value="interviewer">Interviewer</option>
          </select>
        </label>
        <button type="submit" data-testid="search-submit">
          Search
        </button>
      </form>
      <Show when={searchError()}>
        {(message) => (
          <p class="error" role="alert">
            {message()}
          </p>
        )}
      </Show>
      <Show when={hits()}>
        {(found) => (
          <div class="search-results">
            <p class="muted" aria-live="polite" data-testid="search-count">
              {found().length === 0
                ? "No line matches."
                : `${found().length} matching line${found().length === 1 ? "" : "s"}`}
            </p>
            <ul>
              <For each={found()}>
                {(hit) => (
                  <li data-testid="search-hit" data-session={hit.sessionId} data-item={hit.itemId}>
                    <button
                      type="button"
                      class="session-open"
                      onClick={() => props.onOpen(hit.sessionId, hit.itemId)}
                    >
                      <span class="session-title">
                        {hit.sessionTitle} ·{" "}
                        {new Date(hit.sessionStartedAtMs ?? 0).toLocaleDateString()}
                      </span>
                      <span class="muted">
                        {hit.speaker === "candidate" ? "Candidate" : "Interviewer"} at{" "}
                        {clock(hit.atMs)}
                      </span>
                      <span class="snippet">
                        <For each={hit.snippet}>
                          {(piece) => (piece.hit ? <mark>{piece.text}</mark> : piece.text)}
                        </For>
                      </span>
                    </button>
                  </li>
                )}
              </For>
            </ul>
          </div>
        )}
      </Show>
      <Show when={meta()?.canSchedule}>
        <Schedule api={props.api} onScheduled={scheduled} />
      </Show>
      <Show when={notice()}>
        {(text) => (
          <p class="notice" role="status" data-testid="sessions-notice">
            {text()}
          </p>
        )}
      </Show>
      <Show when={meta()?.staleReason}>
        {(reason) => (
          <p class="warning" role="status" data-testid="sessions-stale">
            The server cannot be reached ({reason()}): these are the interviews kept on this
            computer, and may be out of date.
          </p>
        )}
      </Show>
      <Show when={error()}>
        {(message) => (
          <p class="error" role="alert" data-testid="sessions-error">
            {message()}
          </p>
        )}
      </Show>
      <p class="muted" aria-live="polite" data-testid="sessions-count">
        {meta() === undefined
          ? "Loading…"
          : `${total()} interview${total() === 1 ? "" : "s"}${server() ? "" : " on this computer"}`}
      </p>
      <div
        class="session-viewport"
        ref={viewport}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        data-testid="sessions-viewport"
      >
        <ul class="session-rows" style={{ height: `${total() * ROW_HEIGHT}px` }}>
          {/* Index: a row's DOM is kept and refilled as the list scrolls, not rebuilt. */}
          <Index each={visible()}>
            {(index) => {
              const row = () => rows().get(index());
              return (
                <li
                  class="session-row"
                  style={{ top: `${index() * ROW_HEIGHT}px`, height: `${ROW_HEIGHT}px` }}
                  data-testid="session-row"
                  data-index={index()}
                  data-id={row()?.id ?? ""}
                >
                  <Show when={row()} fallback={<span class="muted">Loading…</span>}>
                    {(shown) => (
                      <>
                        <button
                          type="button"
                          class="session-open"
                          onClick={() => props.onOpen(shown().id)}
                        >
                          <span class="session-title">{shown().title}</span>
                          <span class="muted">
                            {shown().candidate ? `${shown().candidate} · ` : ""}
                            {shown().atMs == null ? "" : DATE_TIME.format(shown().atMs ?? 0)}
                            {shown().durationMs == null
                              ? ""
                              : ` · ${clock(shown().durationMs ?? 0)}`}
                          </span>
                          <span class={`status ${shown().status}`} data-testid="session-status">
                            {shown().status}
                          </span>
                          <span class="muted sync">{syncLabel(shown())}</span>
                        </button>
                        <Show when={meta()?.canSchedule && shown().status === "scheduled"}>
                          <button
                            type="button"
                            class="link"
                            onClick={() => cancel(shown().id)}
                            data-testid="session-cancel"
                          >
                            Cancel
                          </button>
                        </Show>
                      </>
                    )}
                  </Show>
                </li>
              );
            }}
          </Index>
        </ul>
      </div>
      <button type="button" class="link" onClick={props.onBack} data-testid="sessions-back">
        Back
      </button>
    </section>
  );
}
