"""What `letta-apply --version` says about the server: the configured one (LETTA_BASE_URL,
else the running dev server) and the version its health check reports. One short request
without the API key (the health check needs none), so `--version` stays quick."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.text import clean, redact_url

TIMEOUT_SECONDS = 3.0


def configured_server() -> tuple[str, str] | None:
    """(URL, where it came from) of the server commands would use, unless that is only the
    default address (nothing configured)."""
    given = os.environ.get("LETTA_BASE_URL")
    if given:
        return given, "LETTA_BASE_URL"
    from reconciler.devserver import default_state_dir, running_url

    state_dir = os.environ.get("LETTA_APPLY_DEV_SERVER_DIR")
    found = running_url(Path(state_dir) if state_dir else default_state_dir())
    return (found, "the local dev server") if found else None


def server_line() -> str | None:
    """`server: URL (LETTA_BASE_URL): Letta 0.16.8`, or why there is no version; None when
    no server is configured."""
    configured = configured_server()
    if configured is None:
        return None
    url, source = configured
    return f"server: {redact_url(url)} ({source}): {health_version(url)}"


def health_version(url: str) -> str:
    """`Letta X` from the server's health check, or what went wrong, in a few words."""
    if urlsplit(url).scheme not in ("http", "https"):
        return "not an http:// or https:// URL"
    try:
        with urllib.request.urlopen(
            f"{url.rstrip('/')}/v1/health/", timeout=TIMEOUT_SECONDS
        ) as answer:
            body = json.loads(answer.read(65536))
    except urllib.error.HTTPError as exc:
        return f"no version (HTTP {exc.code} from its health check)"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"not reachable ({clean(str(reason))})"
    version = body.get("version") if isinstance(body, dict) else None
    return f"Letta {clean(str(version))}" if version else "no version in its health check"
