"""The live state: what the server holds for a stack.

`reconciler.live.state` holds the value types (no network code, so the planner can import
them); `reconciler.kinds.read.read_live` reads them from a server.
"""

from reconciler.live.state import (
    LiveAgent,
    LiveBlock,
    LiveConversation,
    LiveIdentity,
    LiveState,
)

__all__ = ["LiveAgent", "LiveBlock", "LiveConversation", "LiveIdentity", "LiveState"]
