"""The dev server's local embedding model: where it listens, how it is started and found ready.

The model runs as its own process (`embedding_service.py`, in the server's virtualenv) before
the Letta server starts, because the server reads its providers' models once at start. Its
port is kept in the state folder across restarts: folders, archives and agents store the
embedding endpoint they were made with, so a new port would cut them off from their model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO

from reconciler.errors import DevServerError

MODEL = "wordllama-256"
HANDLE = f"ollama/{MODEL}"
"""The embedding handle of the dev server's local model (the server lists it as Ollama's)."""
DIMENSIONS = 256
SERVICE = Path(__file__).resolve().parent / "embedding_service.py"
_PORT_FILE = "embeddings.json"
_POLL = 0.2


def server_env(host: str, port: int) -> dict[str, str]:
    """What the Letta server needs to use the model: the provider URL and the default handle."""
    return {
        "OLLAMA_BASE_URL": f"http://{host}:{port}",
        "LETTA_DEFAULT_EMBEDDING_HANDLE": HANDLE,
    }


def choose_port(state_dir: Path, host: str) -> int:
    """The port recorded in the state folder if it is free, else a new free one (recorded)."""
    record = state_dir / _PORT_FILE
    try:
        port = int(json.loads(record.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        port = 0
    if not port or not _is_free(host, port):
        port = _free_port(host)
        record.write_text(json.dumps({"port": port}))
    return port


def spawn(
    python: Path, host: str, port: int, log: IO[bytes], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start the service in its own session (stopped as a group, like the server)."""
    return subprocess.Popen(
        [str(python), str(SERVICE), "--host", host, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=env.get("HOME"),
        start_new_session=True,
    )


def wait_ready(process: subprocess.Popen[bytes], url: str, deadline: float, log: Path) -> None:
    """Poll until the model answers; DevServerError if it exits or the deadline passes."""
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise DevServerError(
                f"the dev server's embedding model exited during start (exit code {code}); "
                f"see {log}"
            )
        if answers(url, timeout=2.0):
            return
        time.sleep(_POLL)
    raise DevServerError(f"the dev server's embedding model did not answer {url}; see {log}")


def answers(url: str, timeout: float) -> bool:
    """True if the service lists its model at `url`/api/tags."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/tags", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    models = body.get("models") if isinstance(body, dict) else None
    return isinstance(models, list) and any(
        isinstance(m, dict) and m.get("name") == MODEL for m in models
    )


def _is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
