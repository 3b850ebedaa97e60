"""Runs fragment streams through the OpenAI SDK's own Live transcript grouper (the oracle of
viva-realtime's differential test) and prints the turns it gives.

One JSON scenario per input line, one JSON answer per output line:
  in:  {"options": {...}, "steps": [{"at": ms, "op": "delta", "speaker": "user"|"assistant",
        "event_id": str, "text": str, "start_ms": int, "end_ms": int} | {"at": ms, "op": "closed"}]}
  out: {"updates": [{"kind": "updated"|"closed", "id": int, "previous_id": int|null,
        "speaker": str, "text": str, "start_ms": int, "end_ms": int, "reason": str|null}]}
       or {"error": str}
The clock is the scenario's: `at` is the local time a step happens, and the grouper's timers
fire at exactly the delay it asks for, as the Rust side does.
"""

import json
import sys
from types import SimpleNamespace

from openai.lib.live._transcript_state import TranscriptState
from openai.lib.live._types import (
    TranscriptGrouperOptions,
    TranscriptSegment,
    TranscriptSegmentClosedEvent,
)

MAX_TICKS = 10_000


def as_json(update):
    if isinstance(update, TranscriptSegmentClosedEvent):
        segment, kind, reason = update.segment, "closed", update.reason
    elif isinstance(update, TranscriptSegment):
        segment, kind, reason = update, "updated", None
    else:
        raise TypeError(f"unexpected update {update!r}")
    # The SDK's ids are "segment_<grouper>_<n>": only n is the policy's.
    return {
        "kind": kind,
        "id": int(segment.id.rsplit("_", 1)[1]),
        "previous_id": None if segment.previous_id is None else int(segment.previous_id.rsplit("_", 1)[1]),
        "speaker": segment.speaker,
        "text": segment.text,
        "start_ms": segment.start_ms,
        "end_ms": segment.end_ms,
        "reason": reason,
    }


def run(scenario):
    options = TranscriptGrouperOptions(**scenario.get("options", {}))
    clock = [0]
    state = TranscriptState(options, lambda: clock[0])
    updates = []
    due = None

    def reschedule():
        delay = state.delay()
        return None if delay is None else clock[0] + delay

    def drain(until):
        nonlocal due
        for _ in range(MAX_TICKS):
            if due is None or due > until:
                return
            clock[0] = due
            updates.extend(state.tick())
            due = reschedule()
        raise RuntimeError("timers never settled")

    for step in scenario["steps"]:
        drain(step["at"])
        clock[0] = step["at"]
        if step["op"] == "delta":
            kind = "input" if step["speaker"] == "user" else "output"
            event = SimpleNamespace(
                type=f"session.{kind}_transcript.delta",
                event_id=step["event_id"],
                delta=step["text"],
                start_ms=step["start_ms"],
                end_ms=step["end_ms"],
            )
            updates.extend(state.push(event) or [])
        elif step["op"] == "closed":
            updates.extend(state.push(SimpleNamespace(type="session.closed")) or [])
        else:
            raise ValueError(f"unknown op {step['op']!r}")
        due = reschedule()
    return [as_json(update) for update in updates]


def main():
    for line in sys.stdin:
        try:
            answer = {"updates": run(json.loads(line))}
        except Exception as error:  # the Rust side reports it with the scenario
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
