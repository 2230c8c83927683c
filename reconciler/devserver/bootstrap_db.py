"""Prepare the dev server's database; runs inside the Letta server's virtualenv, not the project's.

Starts (or finds running) a private PostgreSQL cluster with pgvector in `--pgdata` through
pgserver, raises `max_connections`, creates the login role and the `letta` database, then
creates Letta's tables from its own ORM metadata: the server package ships no migrations.
Every step is idempotent, so a data folder kept from an earlier run is reused as it is.
Writes the cluster's postmaster pid and socket folder as JSON to `--result`.

This file imports letta, pgserver and sqlalchemy, which only the server's environment has;
it must not import anything from `reconciler`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pgserver
from pgserver._commands import pg_ctl
from pgserver.utils import PostmasterInfo

DATABASE = "letta"
SUPERUSER = "postgres"  # the role pgserver's initdb creates


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, prepare the cluster and database, write the result file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pgdata", type=Path, required=True)
    parser.add_argument("--role", required=True, help="login role the Letta server connects as")
    parser.add_argument("--max-connections", type=int, default=400)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)

    info = start_cluster(args.pgdata.resolve(), args.max_connections)
    socket_dir = str(info.socket_dir)
    asyncio.run(prepare_database(socket_dir, args.role))
    asyncio.run(create_tables(socket_dir, args.role))
    result = {"postgres_pid": info.pid, "socket_dir": socket_dir}
    args.result.write_text(json.dumps(result))
    print(f"database ready: {result}", file=sys.stderr)
    return 0


def start_cluster(pgdata: Path, max_connections: int) -> Any:
    """Init and start the cluster (pgserver runs postgres as its own user when we are root)."""
    # cleanup_mode=None: the cluster must outlive this script; the manager stops it by pid.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    current = asyncio.run(_fetch_value(str(info.socket_dir), "SHOW max_connections"))
    if int(current) >= max_connections:
        return info
    # max_connections only takes effect at start; this restart happens once per data folder.
    asyncio.run(
        _execute(str(info.socket_dir), f"ALTER SYSTEM SET max_connections = {int(max_connections)}")
    )
    pg_ctl(
        ["-w", "-m", "fast", "-l", str(server.log), "restart"],
        pgdata=pgdata,
        user=server.system_user,
        timeout=60,
    )
    return PostmasterInfo.read_from_pgdata(pgdata)


async def prepare_database(socket_dir: str, role: str) -> None:
    """Create the server's login role, its database and the vector extension if missing."""
    conn = await asyncpg.connect(host=socket_dir, user=SUPERUSER, database="postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            # Superuser: it is a private, socket-only cluster, and the server creates extensions.
            await conn.execute(f"CREATE ROLE {_quote(role)} LOGIN SUPERUSER")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f"CREATE DATABASE {DATABASE} OWNER {_quote(role)}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(host=socket_dir, user=role, database=DATABASE)
    try:
        # Letta's tables use the vector type: the extension must exist before create_all.
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()


async def create_tables(socket_dir: str, role: str) -> None:
    """Create Letta's tables from its ORM metadata, plus the sequence the ORM cannot express."""
    from letta.orm import Base
    from sqlalchemy import URL, text
    from sqlalchemy.ext.asyncio import create_async_engine

    url = URL.create(
        "postgresql+asyncpg", username=role, database=DATABASE, query={"host": socket_dir}
    )
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            # Without this default, creating an agent fails on messages.sequence_id NOT NULL.
            await conn.execute(text("CREATE SEQUENCE IF NOT EXISTS message_seq_id"))
            await conn.execute(
                text(
                    "ALTER TABLE messages ALTER COLUMN sequence_id "
                    "SET DEFAULT nextval('message_seq_id')"
                )
            )
    finally:
        await engine.dispose()


async def _fetch_value(socket_dir: str, query: str) -> Any:
    conn = await asyncpg.connect(host=socket_dir, user=SUPERUSER, database="postgres")
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def _execute(socket_dir: str, statement: str) -> None:
    conn = await asyncpg.connect(host=socket_dir, user=SUPERUSER, database="postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


if __name__ == "__main__":
    sys.exit(main())
