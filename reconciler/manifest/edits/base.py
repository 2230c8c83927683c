"""What every edit of a user's declaration is made of: the request (remove the user, or move
a dedicated user to a shared agent), text spans to replace, and the refusal of a form that
cannot be edited safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from reconciler.manifest.users import User


@dataclass(frozen=True)
class Remove:
    """Take the user out of the manifests (its resource is then no longer declared)."""

    user: User


@dataclass(frozen=True)
class Move:
    """Serve a dedicated user with a conversation on the shared agent `agent` instead."""

    user: User
    agent: str


Request = Remove | Move


@dataclass(frozen=True)
class Span:
    """Replace the characters `start` to `end` (exclusive) of a file's text with `text`;
    an insertion when `start == end`."""

    start: int
    end: int
    text: str


class Refused(Exception):
    """A declaration this module will not edit; `reason` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def apply_spans(text: str, spans: Iterable[Span]) -> str:
    """`text` with every span replaced; spans may touch but never overlap."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for first, second in pairwise(ordered):
        if second.start < first.end:
            raise ValueError(f"overlapping edits at {second.start}")
    pieces: list[str] = []
    done = 0
    for span in ordered:
        pieces += [text[done : span.start], span.text]
        done = span.end
    return "".join([*pieces, text[done:]])


def line_start(text: str, index: int) -> int:
    """Where the line holding `index` starts."""
    return text.rfind("\n", 0, index) + 1


def line_end(text: str, index: int) -> int:
    """Where the line holding `index` ends: its newline, or the end of the text."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def whole_lines(text: str, start: int, end: int) -> Span:
    """Remove the lines from the one holding `start` to the one holding `end`, newline included."""
    last = line_end(text, end)
    return Span(line_start(text, start), min(last + 1, len(text)), "")
