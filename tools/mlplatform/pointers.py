"""RFC 6901 JSON pointers, the one spelling of "this field of this object" that fixes (JSON Patch) and
findings' lines (provenance.pointer_line) share."""

from __future__ import annotations


def pointer(*parts: str | int) -> str:
    """A JSON pointer from path parts: `~` and `/` inside a part are escaped (`~0`, `~1`)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
