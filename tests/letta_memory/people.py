"""Identities, as Letta 0.16.8 keeps and answers them.

- A second identity with the same `identifier_key` is refused with 409.
- An update's `properties` are merged by key into those held (none is ever removed); `PUT
  .../properties` replaces them whole.
- An identity answers `agent_ids: []` whatever it is attached to; the agents' listing with
  `agent.identities` tells.
- `count` answers a bare number. Without the identities API (Letta Cloud projects without
  it), every route answers 404.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.letta_memory.store import Query, Record, Refused, copied, last

if TYPE_CHECKING:
    from tests.letta_memory.server import MemoryLetta

FIELDS = ("identifier_key", "name", "identity_type", "properties")


def _available(s: MemoryLetta) -> None:
    if not s.has_identities:
        raise Refused(404, "Not Found")


def _answer(identity: Record) -> Record:
    return {**copied(identity), "agent_ids": [], "block_ids": []}


def list_identities(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    _available(s)
    if s.unlisted:
        return []
    key = last(query, "identifier_key")

    def keep(identity: Record) -> bool:
        return key is None or identity["identifier_key"] == key

    return [_answer(i) for i in s.identities.page(query, keep)]


def count(s: MemoryLetta, _m: re.Match[str], _q: Query, _b: Any) -> Any:
    _available(s)
    return len(s.identities.rows)


def get_identity(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    _available(s)
    return _answer(s.identities.get(m[1]))


def create_identity(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    _available(s)
    key = body.get("identifier_key")
    if any(i["identifier_key"] == key for i in s.identities.rows.values()):
        raise Refused(409, "A unique constraint was violated for Identity (identifier_key)")
    fields = {"identity_type": "user", "properties": [], "project_id": None}
    fields.update({k: copied(body[k]) for k in FIELDS if k in body})
    return _answer(s.new(s.identities, fields))


def update_identity(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    _available(s)
    identity = s.identities.get(m[1])
    for key in ("name", "identity_type"):
        if key in body:
            identity[key] = body[key]
    held = {p["key"]: p for p in identity["properties"]}
    for given in body.get("properties") or ():
        held[given["key"]] = copied(given)
    identity["properties"] = list(held.values())
    return _answer(identity)


def replace_properties(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    _available(s)
    identity = s.identities.get(m[1])
    identity["properties"] = copied(list(body or ()))
    return _answer(identity)


def delete_identity(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    _available(s)
    s.identities.remove(m[1])
    for agent in s.agents.rows.values():
        if m[1] in agent["identity_ids"]:
            agent["identity_ids"].remove(m[1])
    return None


ROUTES = (
    ("GET", r"/v1/identities", list_identities),
    ("POST", r"/v1/identities", create_identity),
    ("GET", r"/v1/identities/count", count),
    ("GET", r"/v1/identities/([^/]+)", get_identity),
    ("PATCH", r"/v1/identities/([^/]+)", update_identity),
    ("DELETE", r"/v1/identities/([^/]+)", delete_identity),
    ("PUT", r"/v1/identities/([^/]+)/properties", replace_properties),
)
