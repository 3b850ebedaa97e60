import { createMemo, createSignal, For, Show } from "solid-js";
import type { Insights as InterviewNumbers } from "./ipc";
import { clock } from "./transcript";

/** Seconds with one decimal under a minute, else `m:ss` (`null`: a number the core could not
 * send, shown as nothing). */
export function duration(ms: number | null): string {
  if (ms === null) return "—";
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : clock(ms);
}

/** A bar as wide as `share` (0–1) of its track, for numbers that read faster as a picture. */
function Bar(props: { share: number; label: string; kind?: string }) {
  const percent = () => Math.round(Math.min(1, Math.max(0, props.share)) * 100);
  return (
    <span class="bar-track" role="img" aria-label={props.label}>
      <span class={`bar ${props.kind ?? ""}`} style={{ width: `${percent()}%` }} />
    </span>
  );
}

/** Rows of the per-question table shown before the user asks for all of them. */
export const QUESTIONS_AT_FIRST = 10;

/** An interview in numbers: talk time, pace, answer latency, pauses, fillers, per question. */
export function Insights(props: { insights: InterviewNumbers }) {
  const longestAnswer = createMemo(() =>
    props.insights.questions.reduce((longest, q) => Math.max(longest, q.answerMs ?? 0), 1),
  );
  // A long interview asks hundreds of questions: laying all of them out held the transcript's
  // first paint back by a quarter of a second, and the lines are what the reader came for.
  const [allQuestions, setAllQuestions] = createSignal(false);
  const questions = () =>
    allQuestions()
      ? props.insights.questions
      : props.insights.questions.slice(0, QUESTIONS_AT_FIRST);
  const mostFillers = () => Math.max(1, ...props.insights.fillers.map((f) => f.count));
  return (
    <details class="insights" open data-testid="insights">
      <summary>Insights</summary>
      <dl class="checks">
        <dt>Talk time</dt>
        <dd data-testid="insight-share">
          <Show when={props.insights.candidateShare != null} fallback="Nobody spoke">
            <Bar
              share={props.insights.candidateShare ?? 0}
              kind="candidate"
              label={`Candidate ${Math.round((props.insights.candidateShare ?? 0) * 100)} %`}
            />{" "}
            Candidate {Math.round((props.insights.candidateShare ?? 0) * 100)} % (
            {duration(props.insights.candidateTalkMs)}), interviewer{" "}
            {duration(props.insights.interviewerTalkMs)}
          </Show>
        </dd>
        <dt>Pace</dt>
        <dd data-testid="insight-pace">
          {props.insights.wordsPerMinute == null
            ? "—"
            : `${Math.round(props.insights.wordsPerMinute)} words per minute`}
        </dd>
        <dt>Answer latency</dt>
        <dd data-testid="insight-latency">
          {props.insights.averageLatencyMs == null
            ? "—"
            : `${duration(props.insights.averageLatencyMs)} on average after a question`}
        </dd>
        <dt>Longest pause</dt>
        <dd data-testid="insight-pause">
          {props.insights.longestPauseAtMs == null
            ? "—"
            : `${duration(props.insights.longestPauseMs)} at ${clock(props.insights.longestPauseAtMs ?? 0)}`}
        </dd>
        <dt>Filler words</dt>
        <dd data-testid="insight-fillers">
          <Show when={props.insights.fillerTotal > 0} fallback="None">
            <ul class="fillers">
              <For each={props.insights.fillers}>
                {(filler) => (
                  <li>
                    <span class="filler">“{filler.filler}”</span>
                    <Bar share={filler.count / mostFillers()} label={`${filler.count} times`} />
                    {filler.count}
                  </li>
                )}
              </For>
            </ul>
          </Show>
        </dd>
      </dl>
      <Show when={props.insights.questions.length > 0}>
        <table class="per-question" data-testid="insight-questions">
          <thead>
            <tr>
              <th scope="col">Question</th>
              <th scope="col">Asked</th>
              <th scope="col">Answer began after</th>
              <th scope="col">Answer</th>
            </tr>
          </thead>
          <tbody>
            <For each={questions()}>
              {(question) => (
                <tr>
                  <td>{question.question || "—"}</td>
                  <td>{clock(question.askedMs ?? 0)}</td>
                  <td>{question.latencyMs == null ? "no answer" : duration(question.latencyMs)}</td>
                  <td>
                    <Bar
                      share={(question.answerMs ?? 0) / longestAnswer()}
                      kind="candidate"
                      label={`${duration(question.answerMs)}`}
                    />{" "}
                    {duration(question.answerMs)}, {question.answerWords} words
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <Show when={!allQuestions() && props.insights.questions.length > QUESTIONS_AT_FIRST}>
          <button
            type="button"
            class="link"
            onClick={() => setAllQuestions(true)}
            data-testid="insight-questions-all"
          >
            Show all {props.insights.questions.length} questions
          </button>
        </Show>
      </Show>
    </details>
  );
}
