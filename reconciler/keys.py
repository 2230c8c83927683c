"""The operator's key: what secrets' digests and saved plans' signatures are keyed with.

`LETTA_APPLY_KEY` when set, else the API key. A server without a key, outside CI, gets a key
generated once in the user's config folder (`$XDG_CONFIG_HOME/letta-apply/key`, by default
`~/.config/letta-apply/key`, readable by its owner only). In CI (`CI=true`) with neither there
is no key: stacks that declare secrets are refused and saved plans are not signed. The key is
never in the source and never in a manifest, so a digest or a signature tells nobody without
it anything about a value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import LettaApplyError

KEY_VARIABLE = "LETTA_APPLY_KEY"
KEY_FILE_MODE = 0o600

NO_KEY = (
    f"there is no key to keep secrets' digests with: set {KEY_VARIABLE} (a long random value "
    "kept as a CI secret) or LETTA_API_KEY"
)
"""The one line saying what to set when a key is needed and there is none."""


def is_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").lower() in ("1", "true", "yes")


def config_folder(environ: Mapping[str, str]) -> Path:
    """The user's config folder for letta-apply."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "letta-apply"


class OperatorKey:
    """The key, found (or made) once, when first needed: a run that needs none (no secrets,
    no saved plan) never creates the key file."""

    def __init__(self, api_key: str | None, environ: Mapping[str, str] | None = None) -> None:
        self._api_key = api_key
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._found = False
        self._key: bytes | None = None

    def get(self) -> bytes | None:
        """The key, or None in CI without `LETTA_APPLY_KEY` and an API key."""
        with self._lock:
            if not self._found:
                self._key = self._find()
                self._found = True
            return self._key

    def require(self) -> bytes:
        """The key; LettaApplyError saying what to set when there is none."""
        key = self.get()
        if key is None:
            raise LettaApplyError(NO_KEY)
        return key

    def derived(self, purpose: str) -> bytes | None:
        """A key for one purpose only (digests, signatures), derived from the key."""
        key = self.get()
        return None if key is None else hmac.new(key, purpose.encode(), hashlib.sha256).digest()

    def _find(self) -> bytes | None:
        chosen = self._environ.get(KEY_VARIABLE) or self._api_key
        if chosen:
            return chosen.encode()
        if is_ci(self._environ):
            return None
        return local_key(config_folder(self._environ) / "key")


def local_key(path: Path) -> bytes:
    """The key kept at `path`, made there (random, readable by its owner only) if absent:
    written whole beside it, then linked into place, so a reader never sees half a key."""
    if path.exists() or path.is_symlink():
        return _read_key(path)
    temporary = path.with_name(f".key.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
        os.link(temporary, path)
    except FileExistsError:
        pass  # made meanwhile by another run: that one is the key
    except OSError as exc:
        raise LettaApplyError(f"{path}: cannot make the local key ({exc.strerror})") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise LettaApplyError(f"{path}: the local key is not a regular file")
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise LettaApplyError(f"{path}: cannot read the local key") from exc
    if len(key) < 32:
        raise LettaApplyError(f"{path}: the local key is too short; remove the file")
    return key.encode()
