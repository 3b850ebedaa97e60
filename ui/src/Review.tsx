import { createEffect, createMemo, createResource, createSignal, For, on, Show } from "solid-js";
import { Insights } from "./Insights";
import type { ExportFormat, ReviewApi, ReviewLineView, TranscriptView } from "./ipc";
import {
  flagText,
  highlight,
  lineAt,
  matchingLines,
  parseClock,
  plainText,
  recordNotice,
  sourceNotice,
  speakerLabel,
} from "./review";
import { clock } from "./transcript";

/** Lines laid out before the first paint: a few screens. */
const FIRST_PAINT_LINES = 60;
/** A performance mark set when a transcript's data has arrived, before it is drawn. */
export const OPENED_MARK = "viva:transcript-opened";
/** Lines laid out per frame after that: a few milliseconds of work each. */
const LINES_PER_SLICE = 400;

const FORMATS: { value: ExportFormat; label: string }[] = [
  { value: "markdown", label: "Markdown" },
  { value: "text", label: "Plain text" },
  { value: "json", label: "JSON" },
  { value: "srt", label: "SRT subtitles" },
  { value: "vtt", label: "WebVTT subtitles" },
];

/** Copies `text`; the clipboard API first, the older selection command where it is refused. */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }
}

/**
 * One transcript, read after the interview: insights, who said what and when, find in the
 * transcript, jump to a time, copy, and export in W1-8's formats through the system's save dialog.
 */
export function Review(props: {
  api: ReviewApi;
  sessionId: string;
  /** A line to open the transcript at (a search hit). */
  focusItem?: string | undefined;
  onBack: () => void;
}) {
  const [transcript] = createResource(
    () => props.sessionId,
    async (id) => {
      const result = await props.api.openTranscript(id);
      // The review benchmark splits opening into the command and the drawing at this mark.
      performance.mark(OPENED_MARK);
      return result;
    },
  );
  const view = (): TranscriptView | undefined => {
    const result = transcript();
    return result?.ok ? result.value : undefined;
  };
  const lines = () => view()?.lines ?? [];
  const failure = () => {
    const result = transcript();
    return result && !result.ok ? result.error.message : undefined;
  };

  // A long transcript paints its first screens at once and the rest in slices after that
  // paint, so it opens as fast as a short one and the window answers while the rest arrives.
  // (A task queued from a frame callback runs after that frame is painted; laying out the
  // rest inside the frame callback would hold the first paint back until all of it was done.)
  const [rendered, setRendered] = createSignal(FIRST_PAINT_LINES);
  const firstPaint = (all: ReviewLineView[]) =>
    all.length <= rendered() ? all : all.slice(0, rendered());
  const more = (total: number) => {
    if (rendered() >= total) return;
    requestAnimationFrame(() =>
      setTimeout(() => {
        setRendered((shown) => shown + LINES_PER_SLICE);
        more(total);
      }, 0),
    );
  };
  // The first slice waits one frame more, so nothing delays the frame that paints the first
  // lines.
  createEffect(
    on(view, (loaded) => loaded && requestAnimationFrame(() => more(loaded.lines.length))),
  );

  const [query, setQuery] = createSignal("");
  const matches = createMemo(() => matchingLines(lines(), query()));
  const [current, setCurrent] = createSignal(0);
  const [focused, setFocused] = createSignal<number | undefined>();
  let list: HTMLOListElement | undefined;

  /** Scrolls line `index` into view and marks it; `focus` moves the keyboard there too (not
   * while the user is typing in the find box). */
  const show = (index: number | undefined, focus = true) => {
    if (index === undefined) return;
    setRendered(Number.POSITIVE_INFINITY);
    setFocused(index);
    const element = list?.querySelector<HTMLElement>(`[data-index="${index}"]`);
    element?.scrollIntoView?.({ block: "center" });
    if (focus) element?.focus({ preventScroll: true });
  };
  const step = (by: number) => {
    const found = matches();
    if (found.length === 0) return;
    const next = (current() + by + found.length) % found.length;
    setCurrent(next);
    show(found[next]);
  };

  // Opened from a search hit: show that line once the transcript is there.
  createEffect(
    on(view, (loaded) => {
      if (!loaded || !props.focusItem) return;
      const index = loaded.lines.findIndex((line) => line.itemId === props.focusItem);
      if (index >= 0) queueMicrotask(() => show(index));
    }),
  );

  const [jump, setJump] = createSignal("");
  const [jumpError, setJumpError] = createSignal<string | undefined>();
  const jumpTo = (event: SubmitEvent) => {
    event.preventDefault();
    const ms = parseClock(jump());
    if (ms === undefined) {
      setJumpError("Type a time like 1:30.");
      return;
    }
    setJumpError(undefined);
    show(lineAt(lines(), ms));
  };

  const [notice, setNotice] = createSignal<{ text: string; error: boolean } | undefined>();
  const copy = async () => {
    const copied = await copyText(plainText(lines()));
    setNotice(
      copied
        ? { text: "The transcript is on the clipboard.", error: false }
        : { text: "The clipboard refused the transcript.", error: true },
    );
  };
  const [format, setFormat] = createSignal<ExportFormat>("markdown");
  const [exporting, setExporting] = createSignal(false);
  const exportIt = async () => {
    setExporting(true);
    const saved = await props.api.exportTranscript(props.sessionId, format());
    setExporting(false);
    if (!saved.ok) setNotice({ text: saved.error.message, error: true });
    else if (saved.value) setNotice({ text: `Saved to ${saved.value}`, error: false });
    else setNotice(undefined);
  };

  return (
    <section class="card review" aria-labelledby="review-title" data-testid="review">
      {/* Above the lines: leaving a two-hour transcript must not mean scrolling to its end. */}
      <button type="button" class="link" onClick={props.onBack} data-testid="review-back">
        ← Back
      </button>
      <Show when={failure()}>
        {(message) => (
          <p class="error" role="alert" data-testid="review-error">
            {message()}
          </p>
        )}
      </Show>
      <Show when={view()}>
        {(loaded) => (
          <>
            <header class="review-head">
              <h2 id="review-title" data-testid="review-title">
                {loaded().session.title}
              </h2>
              <p class="muted" data-testid="review-meta">
                {new Date(loaded().session.startedAtMs ?? 0).toLocaleString()} ·{" "}
                {loaded().session.status}
                {loaded().session.durationMs == null
                  ? ""
                  : ` · ${clock(loaded().session.durationMs ?? 0)}`}{" "}
                · {loaded().lines.length} lines
              </p>
              <Show when={(loaded().session.refusedLines ?? 0) > 0}>
                <p class="warning" role="status" data-testid="review-refused">
                  {loaded().session.refusedLines === 1
                    ? "1 line was refused by the server; it is kept on this computer only (marked below)."
                    : `${loaded().session.refusedLines} lines were refused by the server; they are kept on this computer only (marked below).`}
                </p>
              </Show>
              <Show when={recordNotice(loaded().record)}>
                {(notice) => (
                  <p
                    class={notice().warning ? "warning" : "muted"}
                    role="status"
                    data-testid="review-record"
                  >
                    {notice().text}
                  </p>
                )}
              </Show>
              <Show when={sourceNotice(loaded().source)}>
                {(text) => (
                  <p class="warning" role="status" data-testid="review-stale">
                    {text()}
                  </p>
                )}
              </Show>
            </header>
            <Insights insights={loaded().insights} />
            <div class="review-tools">
              <label class="inline">
                Find
                <input
                  type="search"
                  value={query()}
                  onInput={(event) => {
                    setQuery(event.currentTarget.value);
                    setCurrent(0);
                    show(matches()[0], false);
                  }}
                  onKeyDown={(event) => {
                    if (event.key === "Enter") step(event.shiftKey ? -1 : 1);
                  }}
                  data-testid="review-find"
                />
              </label>
              <span class="muted" aria-live="polite" data-testid="review-matches">
                {query().trim() === ""
                  ? ""
                  : matches().length === 0
                    ? "No match"
                    : `${current() + 1} of ${matches().length}`}
              </span>
              <button
                type="button"
                onClick={() => step(-1)}
                disabled={matches().length === 0}
                aria-label="Previous match"
              >
                ↑
              </button>
              <button
                type="button"
                onClick={() => step(1)}
                disabled={matches().length === 0}
                aria-label="Next match"
                data-testid="review-next"
              >
                ↓
              </button>
              <form class="inline" onSubmit={jumpTo}>
                <label class="inline">
                  Go to
                  <input
                    size="6"
                    placeholder="m:ss"
                    value={jump()}
                    onInput={(event) => setJump(event.currentTarget.value)}
                    data-testid="review-jump"
                  />
                </label>
              </form>
              <button type="button" onClick={copy} data-testid="review-copy">
                Copy
              </button>
              <select
                aria-label="Export format"
                value={format()}
                onChange={(event) => setFormat(event.currentTarget.value as ExportFormat)}
                data-testid="export-format"
              >
                <For each={FORMATS}>{(f) => <option value={f.value}>{f.label}</option>}</For>
              </select>
              <button type="button" onClick={exportIt} disabled={exporting()} data-testid="export">
                Export…
              </button>
            </div>
            <Show when={jumpError()}>
              {(message) => (
                <p class="warning" role="status">
                  {message()}
                </p>
              )}
            </Show>
            <Show when={notice()}>
              {(shown) => (
                <p
                  class={shown().error ? "error" : "notice"}
                  role="status"
                  data-testid="review-notice"
                >
                  {shown().text}
                </p>
              )}
            </Show>
            <Show
              when={loaded().lines.length > 0}
              fallback={<p class="muted">Nothing was said in this session.</p>}
            >
              <ol class="review-lines" ref={list} aria-label="Transcript">
                <For each={firstPaint(loaded().lines)}>
                  {(line, index) => (
                    <li
                      class={`line ${line.speaker}`}
                      classList={{ focused: focused() === index(), flagged: line.flag != null }}
                      tabindex="-1"
                      data-index={index()}
                      data-testid="review-line"
                      data-speaker={line.speaker}
                      data-at={line.atMs}
                    >
                      <span class="who">{speakerLabel(line.speaker)}</span>
                      <span class="when">{clock(line.atMs)}</span>
                      <span class="words">
                        <Show
                          when={!(line.inaudible && line.text.trim() === "")}
                          fallback={<em>[inaudible]</em>}
                        >
                          <For each={highlight(line.text, query())}>
                            {(piece) => (piece.hit ? <mark>{piece.text}</mark> : piece.text)}
                          </For>
                        </Show>
                        {line.interrupted ? " …" : ""}
                      </span>
                      <Show when={line.late}>
                        <span
                          class="late-tag"
                          data-testid="line-late"
                          title="Reached the server more than 10 minutes after the interview ended (synced later from a computer that was offline)."
                        >
                          arrived late
                        </span>
                      </Show>
                      <Show when={line.flag}>
                        {(flag) => (
                          <span class="line-flag" data-testid="line-flag" role="note">
                            {flagText(flag())}
                          </span>
                        )}
                      </Show>
                      <Show when={line.refused}>
                        {(reason) => (
                          <span class="line-refused" data-testid="line-refused" role="note">
                            Kept on this computer only: the server refused it ({reason()}).
                          </span>
                        )}
                      </Show>
                    </li>
                  )}
                </For>
              </ol>
            </Show>
          </>
        )}
      </Show>
    </section>
  );
}
