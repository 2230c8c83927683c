"""A real local Letta server for development, tests and demos, installed and run by letta-apply.

`DevServer` starts the server and a private PostgreSQL in a state folder and stops them again;
`ServerVenv` is the server's own virtualenv in the user's cache folder.
"""

from __future__ import annotations

from reconciler.devserver.manager import DevServer, ServerInfo, default_state_dir, running_url
from reconciler.devserver.venv import ServerVenv, cache_root

__all__ = [
    "DevServer",
    "ServerInfo",
    "ServerVenv",
    "cache_root",
    "default_state_dir",
    "running_url",
]
