"""Text from manifests, saved plans and the server, made safe to show, and URLs shown without
their credentials.

Every path from such text to a terminal or a file goes through `clean` (the renderers, errors,
notices, progress lines) or, inside JSON documents, `json_text`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_BEYOND_C0 = (
    "\x7f-\x9f"  # DEL and the C1 controls
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # surrogates: in a str they are always lone, and cannot be encoded
)
_UNSAFE = re.compile(f"[\x00-\x08\x0a-\x1f{_BEYOND_C0}]")  # C0 controls but tab: newline too
_UNSAFE_IN_JSON = re.compile(f"[{_BEYOND_C0}]")  # json.dumps escapes C0 inside strings itself

REDACTED = "***"
"""What replaces the credentials of a URL."""

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s]*@")


def clean(text: str) -> str:
    """Escape control, bidi and separator characters and lone surrogates as `\\xNN` or
    `\\uNNNN`: text from outside must not move the cursor, recolour a terminal, reorder text,
    start a line that looks like the program's own, or make the output unwritable."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def json_text(document: str) -> str:
    """JSON text with the characters `clean` escapes written as `\\uNNNN` escapes.

    The same value once parsed, but nothing in the file acts on a terminal that shows it, and
    a lone surrogate can be written as UTF-8. `json.dumps` escapes C0 controls inside strings
    itself (a newline outside one is layout), and every other such character of a JSON text
    is inside a string (the syntax is ASCII), so the result is valid JSON.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def reorders_or_hides(text: str) -> bool:
    """Whether `text` holds a character that acts on how text around it is shown (bidi
    controls, C1 controls, line separators) or a lone surrogate: what a file a person
    reviews should hold only as an escape."""
    return _UNSAFE_IN_JSON.search(text) is not None


def redact_url(url: str) -> str:
    """The URL with the user and password in it replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_urls(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


def redact_urls(text: str) -> str:
    """Every `scheme://user:password@` in a message with its credentials replaced by `***`."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def without_credentials(url: str) -> str:
    """The server a URL names: no user or password, no trailing slash (for comparing)."""
    return redact_url(url).replace(f"://{REDACTED}@", "://", 1).rstrip("/")


def target_label(url: str) -> str:
    """A server URL as shown: credentials replaced, control characters escaped."""
    return clean(redact_url(url))


def shown(text: str) -> str:
    """A message as printed: URL credentials replaced, then escaped."""
    return clean(redact_urls(text))


def api_path_hint(url: str) -> str | None:
    """For a base URL naming the API's `/v1` path (a 404 for every request), the server's
    root to give instead; None for any other URL."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        return None
    root = parts._replace(path=path.removesuffix("/v1"), query="", fragment="").geturl()
    return f"the base URL is the server's root, without /v1 (letta-apply adds it): try {root}"
