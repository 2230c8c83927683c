"""Setting what only the Letta server's database holds, for tests that need the past: when an
agent or a conversation was created (no API request sets it).

Possible only with the server the test session started itself: its private PostgreSQL is
reached through the socket recorded in the session's state folder, by the server's own Python
(which has asyncpg). Tests against `LETTA_APPLY_TEST_SERVER` skip what needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.devserver.venv import ServerVenv

TABLES = ("agents", "conversations")

_SCRIPT = """
import asyncio, datetime, sys
import asyncpg

async def main(socket_dir, table, when, ids):
    conn = await asyncpg.connect(host=socket_dir, user="postgres", database="letta")
    try:
        done = await conn.execute(
            f"UPDATE {table} SET created_at = $1 WHERE id = ANY($2::text[])",
            datetime.datetime.fromisoformat(when), ids,
        )
    finally:
        await conn.close()
    print(done)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
"""


def session_socket(server_state_root: Path) -> Path:
    """The socket folder of the session server's database; skips the test when the suite
    uses a server it did not start."""
    if os.environ.get("LETTA_APPLY_TEST_SERVER"):
        pytest.skip("needs the database of the server the test session started")
    state = json.loads((server_state_root / "session" / "state.json").read_text())
    return Path(state["socket_dir"])


def set_created_at(socket: Path, table: str, ids: Iterable[str], when: datetime) -> None:
    """Set `created_at` of the rows `ids` of `table` (one of TABLES) to `when`."""
    assert table in TABLES
    wanted = list(ids)
    python = str(ServerVenv.default().python)
    command = [python, "-c", _SCRIPT, str(socket), table, when.isoformat(), *wanted]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"UPDATE {len(wanted)}", done.stdout + done.stderr
