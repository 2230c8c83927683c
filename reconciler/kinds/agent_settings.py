"""The agent fields a stack manages: the `SETTINGS` table (a new managed field is a row here
plus its key in the manifest schema), how each is read from the server's agent and turned
from the manifest's form into the server's, the hooks of the settings with behaviour (how the
live value is compared, what a request carrying it also sends, the step after the agent's
create or update), and the tool-rule formats."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler import ownership, secrets
from reconciler.address import Address
from reconciler.desired import SecretSpec
from reconciler.errors import LettaApplyError
from reconciler.kinds import block_record
from reconciler.kinds.agent_record import ROUTE, SHAPE, AgentRecord
from reconciler.values import EMPTY, JSON, canonical

if TYPE_CHECKING:
    from reconciler.client import LettaApi
    from reconciler.live.state import LiveAgent


@dataclass(frozen=True)
class Held:
    """What a field's hooks see: the agent as the server holds it (None while it is made),
    the settings the manifest declares for it by server name, its declared secrets (None:
    not managed) and the metadata the stack writes on it (its ownership record)."""

    agent: LiveAgent | None
    declared: Mapping[str, JSON]
    secrets: tuple[SecretSpec, ...] | None = None
    metadata: Mapping[str, JSON] = EMPTY


After = Callable[["LettaApi", AgentRecord, JSON, Address], None]
"""A step after the agent's create or update: the server's answer (the agent as it now is),
the setting's value as planned, the agent's address."""


@dataclass(frozen=True)
class Setting:
    """One managed agent field.

    `name` is the field on the server and in plans, `manifest` its key in templates, shared
    agents and `defaults`; `read` takes it from the server's agent; `required` fields must be
    set (here or in defaults); `text` fields may use `${user.*}` variables.
    """

    name: str
    manifest: str
    read: Callable[[AgentRecord], object]
    required: bool = False
    text: bool = False
    convert: Callable[[Any], JSON] | None = None
    """Turns the manifest's value into the server's form (e.g. camelCase keys to snake_case)."""
    partial: bool = False
    """A settings object of which only the keys the manifest declares are managed: the
    server's defaults for the others never show as drift and are never overwritten."""
    current: Callable[[JSON, Held], JSON] | None = None
    """The live value as compared with the declared one (by default as read; of a partial
    setting, the keys declared)."""
    send: Callable[[dict[str, JSON], Held], None] | None = None
    """Completes a request body carrying the setting (where the server wants more)."""
    after: After | None = None
    """A step after the agent's create or update that carried the setting."""
    deferred: bool = False
    """Sent by `after` only, never with the create or update itself."""

    def compared(self, value: JSON, held: Held) -> JSON:
        """The live `value` as compared with the declared one."""
        if self.current is not None:
            return self.current(value, held)
        if self.partial:
            return _project(value, held.declared.get(self.name))
        return value

    # The hooks every agent field has (`FIELDS`), as a setting has them.

    def live(self, held: Held) -> JSON | None:
        """The value on the server as compared (None: not compared)."""
        agent = held.agent
        if agent is None or self.name not in agent.settings:
            return None
        return self.compared(agent.settings[self.name], held)

    def wanted(self, held: Held) -> JSON | None:
        """The value the manifest declares, as compared and as created (None: unmanaged)."""
        return held.declared.get(self.name)

    def created(self, held: Held) -> JSON | None:
        return self.wanted(held)

    def complete(self, body: dict[str, JSON], held: Held) -> None:
        """Completes a request body carrying the setting (`send`)."""
        if self.send is not None and self.name in body:
            self.send(body, held)

    def request(self, api: LettaApi, body: dict[str, JSON], address: Address) -> None:
        """Nothing to do as the request is made: a setting's value is planned as sent."""


def _project(live: JSON, declared: JSON) -> JSON:
    """`live` reduced to the keys `declared` has, level by level."""
    if not isinstance(live, Mapping) or not isinstance(declared, Mapping):
        return live
    return {key: _project(live.get(key), declared[key]) for key in declared if key in live}


def _plain(name: str) -> Callable[[AgentRecord], object]:
    return lambda raw: raw.get(name)


def _context_window(raw: AgentRecord) -> int | None:
    """The context window the server reports inside the agent's `llm_config`."""
    config = raw.get("llm_config")
    return config.get("context_window") if config else None


def _model(raw: AgentRecord) -> str | None:
    """The model handle: the agent's own field, or the handle inside its `llm_config`."""
    config = raw.get("llm_config")
    return raw.get("model") or (config.get("handle") if config else None)


def _embedding(raw: AgentRecord) -> str | None:
    """The embedding handle: the agent's own field, or the one inside `embedding_config`."""
    config = raw.get("embedding_config")
    return raw.get("embedding") or (config.get("handle") if config else None)


def _compaction_settings(raw: AgentRecord) -> dict[str, object] | None:
    """The compaction settings, without their prompt (a long default text the stack never
    manages)."""
    settings = raw.get("compaction_settings")
    if settings is None:
        return None
    return {key: value for key, value in settings.items() if key != "prompt"}


MODEL_SETTINGS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "maxOutputTokens": ("max_output_tokens",),
    "parallelToolCalls": ("parallel_tool_calls",),
    "reasoningEffort": ("reasoning", "reasoning_effort"),
    "strict": ("strict",),
}
"""`modelSettings` keys -> where the server keeps them in the agent's `model_settings`."""

COMPACTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "mode": ("mode",),
    "slidingWindowPercentage": ("sliding_window_percentage",),
    "clipChars": ("clip_chars",),
}
"""`compactionSettings` keys -> the fields of the agent's `compaction_settings`."""


def _by_table(table: Mapping[str, tuple[str, ...]]) -> Callable[[Any], JSON]:
    """Manifest keys to the server's (possibly nested) fields, by a table."""

    def convert(declared: Any) -> JSON:
        body: dict[str, JSON] = {}
        for key, value in sorted(declared.items()):
            *outer, last = table[key]
            place = body
            for name in outer:
                place = place.setdefault(name, {})
            place[last] = value
        return body

    return convert


TOOL_RULES: dict[str, tuple[str, dict[str, str]]] = {
    "init": ("run_first", {}),
    "terminal": ("exit_loop", {}),
    "continue": ("continue_loop", {}),
    "child": ("constrain_child_tools", {"children": "children"}),
    "parentLastTool": ("parent_last_tool", {"children": "children"}),
    "conditional": (
        "conditional",
        {
            "defaultChild": "default_child",
            "childOutputMapping": "child_output_mapping",
            "requireOutputMapping": "require_output_mapping",
        },
    ),
    "maxCountPerStep": ("max_count_per_step", {"maxCount": "max_count_limit"}),
    "requiredBeforeExit": ("required_before_exit", {}),
}
"""`toolRules` types -> the server's rule type, and their own keys -> the server's fields."""
_RULE_FIELDS = frozenset(
    {"type", "tool_name", *(name for _, keys in TOOL_RULES.values() for name in keys.values())}
)
_RULE_TYPES = frozenset(server for server, _ in TOOL_RULES.values())


def rule_key(rule: Mapping[str, JSON]) -> str:
    return canonical(rule)


def _tool_rules_body(declared: Any) -> JSON:
    """Manifest tool rules as the server's, in a stable order."""
    rules = []
    for rule in declared:
        server, keys = TOOL_RULES[rule["type"]]
        body: dict[str, JSON] = {"type": server, "tool_name": rule["tool"]}
        for key, name in keys.items():
            if key in rule:
                body[name] = rule[key]
        rules.append(_normal_rule(body))
    return sorted(rules, key=rule_key)


def _read_tool_rules(raw: AgentRecord) -> list[dict[str, JSON]] | None:
    """The agent's rules of the kinds a manifest declares, as `_tool_rules_body` writes
    them (approval rules follow the tools' own `requiresApproval` and are not compared)."""
    rules = raw.get("tool_rules")
    if rules is None:
        return None
    found = [_normal_rule(rule) for rule in rules if rule.get("type") in _RULE_TYPES]
    return sorted(found, key=rule_key)


def _normal_rule(rule: Mapping[str, object]) -> dict[str, JSON]:
    """Only the compared fields, unset ones and the server's false defaults left out."""
    kept: dict[str, JSON] = {
        k: v for k, v in rule.items() if k in _RULE_FIELDS and v not in (None, False)
    }
    if isinstance(kept.get("children"), list):
        kept["children"] = sorted(kept["children"])
    return kept


def server_rules(held: Held) -> list[JSON]:
    """Rules the server added for its base tools (it lets them continue the loop), which the
    manifest does not declare: kept, and not shown as drift."""
    if held.agent is None:
        return []
    base = {ref.name for ref in held.agent.tools if ref.is_base}
    declared = held.declared.get("tool_rules") or ()
    rules = held.agent.settings.get("tool_rules") or ()
    return [r for r in rules if r.get("tool_name") in base and r not in declared]


def _declared_rules(live: JSON, held: Held) -> JSON:
    server = server_rules(held)
    return [r for r in live or () if r not in server]


def _with_server_rules(body: dict[str, JSON], held: Held) -> None:
    """The server replaces tool rules whole: its own base-tool rules go with the declared."""
    body["tool_rules"] = sorted([*body["tool_rules"], *server_rules(held)], key=rule_key)


def _with_model_derived(body: dict[str, JSON], held: Held) -> None:
    """A new model handle resets what the server derives from it (context window, model and
    compaction settings): the declared ones go with it."""
    for name in FOLLOWS_MODEL:
        if name in held.declared and name not in body:
            body[name] = held.declared[name]


def _merge_model_settings(
    api: LettaApi, agent: AgentRecord, declared: JSON, address: Address
) -> None:
    """The server takes model settings whole, typed by the provider it keeps in them: send
    what it holds with the declared keys changed, so the others keep their values."""
    merged = _merged(agent.get("model_settings") or {}, declared)
    path = f"{ROUTE}{agent['id']}"
    api.patch(path, {"model_settings": merged}, address=str(address))


def _merged(held: Mapping[str, object], declared: JSON) -> dict[str, object]:
    merged = dict(held)
    for key, value in declared.items() if isinstance(declared, Mapping) else ():
        inner = merged.get(key)
        merged[key] = (
            _merged(inner, value)
            if isinstance(inner, Mapping) and isinstance(value, Mapping)
            else value
        )
    return merged


def sleeptime_group(raw: AgentRecord) -> tuple[str, ...]:
    """The sleep-time agents the server made for an agent (its managed group's members)."""
    group = raw.get("managed_group") or raw.get("multi_agent_group")
    if group is None or group["manager_type"] != "sleeptime":
        return ()
    return tuple(sorted(group["agent_ids"]))


def _mark_companions(api: LettaApi, agent: AgentRecord, enabled: JSON, address: Address) -> None:
    """Mark the sleep-time agents the server just made for `agent` (as its create or update
    answered) as its companions: no tag (they are not the stack's agents and carry no user
    tag), an ownership record naming the agent they serve; and their own blocks (those not
    on `agent`) with the stack's tag, so they go when the sleep-time agent does."""
    if not enabled:
        return
    stack = ownership.recorded_stack(agent["metadata"])
    if stack is None:
        raise LettaApplyError(f"{address}: the agent has no ownership record")
    params = {"include": ["agent.managed_group", "agent.blocks"]}
    where = str(address)
    if not sleeptime_group(agent):
        path = f"{ROUTE}{agent['id']}"
        agent = SHAPE.parse(api.get(path, params, address=where), f"GET {path}", where)
    served = {b["id"] for b in agent.get("blocks") or ()}
    for companion in sleeptime_group(agent):
        path = f"{ROUTE}{companion}"
        current = SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
        held = current["metadata"]
        metadata = {
            **(held if isinstance(held, Mapping) else {}),
            ownership.METADATA_KEY: ownership.companion_record(stack, address),
        }
        api.patch(path, {"metadata": metadata}, address=where)
        memory = f"{path}/core-memory/blocks"
        held_blocks = api.get(memory, address=where) or []
        for own in block_record.SHAPE.parse_all(held_blocks, memory, where):
            if own["id"] not in served:
                tags = sorted({*(own["tags"] or ()), ownership.stack_tag(stack)})
                api.patch(f"{block_record.ROUTE}{own['id']}", {"tags": tags}, address=where)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        "model",
        _model,
        required=True,
        send=_with_model_derived,
    ),
    Setting("embedding", "embedding", _embedding, required=True),
    Setting("description", "description", _plain("description"), text=True),
    Setting("system", "system", _plain("system")),
    Setting("timezone", "timezone", _plain("timezone")),
    Setting("context_window_limit", "contextWindowLimit", _context_window),
    Setting(
        "model_settings",
        "modelSettings",
        _plain("model_settings"),
        convert=_by_table(MODEL_SETTINGS),
        partial=True,
        after=_merge_model_settings,
        deferred=True,
    ),
    Setting(
        "compaction_settings",
        "compactionSettings",
        _compaction_settings,
        convert=_by_table(COMPACTION_SETTINGS),
        partial=True,
    ),
    Setting(
        "tool_rules",
        "toolRules",
        _read_tool_rules,
        convert=_tool_rules_body,
        current=_declared_rules,
        send=_with_server_rules,
    ),
    Setting(
        "enable_sleeptime",
        "enableSleeptime",
        lambda raw: bool(raw.get("enable_sleeptime")),
        after=_mark_companions,
    ),
)


class Secrets:
    """The agent's secrets (the manifest's `secrets`), a field with a setting's hooks: the
    server replaces them whole; a plan shows each as (new), (changed) or (set), never a value;
    the values are read from the environment as the request is made, their keyed digests
    written with them in the ownership record."""

    name = "secrets"
    deferred = False
    after: After | None = None

    def live(self, held: Held) -> JSON | None:
        if held.secrets is None or held.agent is None:
            return None
        return dict.fromkeys(held.agent.secret_names, secrets.SET)

    def wanted(self, held: Held) -> JSON | None:
        """Each declared secret as the plan shows it: unchanged only when the server has it
        and the stack's ownership record holds the digest of the declared value."""
        if held.secrets is None or held.agent is None:
            return None
        recorded = ownership.secret_digests(held.agent.metadata)
        names = set(held.agent.secret_names)
        return {
            s.name: secrets.state(s, _text(recorded.get(s.name)), s.name in names)
            for s in held.secrets
        }

    def created(self, held: Held) -> JSON | None:
        return secrets.planned(held.secrets) if held.secrets else None

    def complete(self, body: dict[str, JSON], held: Held) -> None:
        """The server replaces secrets whole, and the record keeps the digests written: a
        change to either sends both."""
        if held.secrets is not None and ("secrets" in body or "metadata" in body):
            body["secrets"] = secrets.planned(held.secrets)
            body["metadata"] = dict(held.metadata)

    def request(self, api: LettaApi, body: dict[str, JSON], address: Address) -> None:
        """The values, read from the environment now, and their digests in the record."""
        if "secrets" not in body:
            return
        values = api.secrets.reveal(body["secrets"], address)
        body["secrets"] = values
        body["metadata"] = ownership.with_secret_digests(
            body["metadata"], api.secrets.record(address, values)
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


SECRETS = Secrets()
FIELDS: tuple[Setting | Secrets, ...] = (*SETTINGS, SECRETS)
"""Every agent field with hooks: the settings and the secrets."""

FOLLOWS_MODEL = ("context_window_limit", "model_settings", "compaction_settings")
"""Settings the server derives anew from a new model handle: sent again with it."""
