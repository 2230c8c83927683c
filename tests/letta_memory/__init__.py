"""A Letta server in memory, answering the REST subset letta-apply calls with the behaviour of
Letta 0.16.8 (each route module says which): for offline tests of the code that writes, and for
the edge cases a real server makes hard to reach (failures mid-apply, lost answers, duplicates,
pagination boundaries, hostile data). Tests against the real server stay; `tests/offline/
test_same_on_both.py` runs one scenario on both to keep the two in step."""

from tests.letta_memory.server import Fault, MemoryLetta, Request
from tests.letta_memory.serving import serving

__all__ = ["Fault", "MemoryLetta", "Request", "serving"]
