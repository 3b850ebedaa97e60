"""Validates GPT-Live server events against OpenAI's Python SDK, as a test oracle.

Reads one JSON object per line on stdin (a server event as sent on the data channel) and writes
one JSON line per input line on stdout, flushed at once, so a caller can talk to it line by line:

    {"ok": true, "type": "<event type>"}
    {"ok": false, "error": "<what is wrong>"}

The model is the SDK's `openai.types.live.ServerEvent` union (pinned in requirements.txt),
validated by pydantic in strict mode: a field of the wrong type (no "0" for an integer), a
missing required field, a value outside a literal, or a `type` that no member of the union has
is refused. Fields the models do not know are allowed, as the SDK's models allow them.
"""

import json
import sys
import typing

import pydantic
from openai.types.live import ServerEvent


def server_event_adapter() -> pydantic.TypeAdapter:
    """The SDK's server-event union, told to pydantic as a union tagged by `type`.

    The SDK marks the union's tag with its own metadata, which pydantic does not read; pydantic
    is given the same members with its own discriminator, so an event is checked against the
    one member its `type` names and an unknown `type` is refused by name.
    """
    union = ServerEvent
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    members = typing.get_args(union)
    if typing.get_origin(union) is not typing.Union or not members:
        raise SystemExit(f"validate_live: openai.types.live.ServerEvent is no union: {union!r}")
    tagged = typing.Annotated[typing.Union[members], pydantic.Field(discriminator="type")]
    return pydantic.TypeAdapter(tagged)


def describe(error: pydantic.ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False):
        location = ".".join(str(step) for step in detail.get("loc", ()))
        parts.append(f"{location}: {detail['msg']}" if location else detail["msg"])
    return "; ".join(parts)


def check(adapter: pydantic.TypeAdapter, line: str) -> dict:
    # Validated as the JSON text it is on the wire (strict JSON mode), not as parsed Python.
    try:
        model = adapter.validate_json(line, strict=True)
    except pydantic.ValidationError as error:
        return {"ok": False, "error": describe(error)}
    return {"ok": True, "type": model.type}


def main() -> int:
    adapter = server_event_adapter()
    for raw in sys.stdin:
        line = raw.rstrip("\r\n")
        sys.stdout.write(json.dumps(check(adapter, line)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
