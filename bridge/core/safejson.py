"""JSON from outside (MQTT payloads, the cloud's answers, the Supervisor's), parsed so that no document can
stop the bridge: too large, nested too deeply or not valid are each a `ValueError` saying which. No I/O.

Python's parser recurses once per level of nesting: `[` repeated 100,000 times raises `RecursionError`,
which is not a `ValueError` and would end the bridge. Documents with more brackets than the depth allows
are scanned for their real depth before they are parsed.
"""

from __future__ import annotations

import json
import re
from typing import Final

#: Deeper than any answer the bridge reads (the cloud's nest three or four levels).
MAX_DEPTH: Final = 32
#: Strings (skipped whole, escapes included) and the brackets that open or close a level.
_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonRefusedError(ValueError):
    """A document the bridge will not parse, with the reason."""


def loads(data: str | bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> object:
    """The parsed document, or `JsonRefusedError` (a `ValueError`) when it is too large, too deep or not
    JSON."""
    if len(data) > max_bytes:
        raise JsonRefusedError(f"is {len(data)} bytes long, more than the {max_bytes} accepted")
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") > max_depth:
        _check_depth(text, max_depth)
    try:
        return json.loads(text)
    except RecursionError as exc:  # a last guard: the scan above should have refused it
        raise JsonRefusedError(f"is nested more than {max_depth} levels deep") from exc
    except json.JSONDecodeError as exc:
        raise JsonRefusedError(f"is not valid JSON ({exc.msg} at {exc.pos})") from exc


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonRefusedError(f"is nested more than {max_depth} levels deep")
        elif bracket in "]}":
            depth -= 1
