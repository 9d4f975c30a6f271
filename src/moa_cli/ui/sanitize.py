"""Make text safe to draw: it must never drive the terminal, reorder what is shown, or show a key."""

from __future__ import annotations

import json
import re

from moa_cli.redact import scrub

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC strings, two-byte escapes,
# the 8-bit CSI/OSC introducers, every C0/C1 control except newline and tab, and the bidi
# controls (embeddings, overrides, isolates, marks) that make text read otherwise than it is.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x9d[^\x07\x1b\x9c\n]*(?:\x07|\x9c)?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
    r"|[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_ESCAPE_IN_JSON = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What ``json.dumps(..., ensure_ascii=False)`` leaves raw but a terminal would act on."""


def strip_controls(text: str) -> str:
    """``text`` without escape sequences, control characters (newlines and tabs are kept) or keys."""
    return _CONTROL.sub("", scrub(text))


def json_text(data: object, *, indent: int | None = 2) -> str:
    """``data`` as JSON that is safe on a terminal: C1 and bidi controls escaped (``\\u009b``), keys removed.

    Still valid JSON that decodes to the same text; the rest of Unicode stays readable.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return scrub(_ESCAPE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
