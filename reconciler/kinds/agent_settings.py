"""The agent fields a stack manages: the `SETTINGS` table (a new managed field is a row here
plus its key in the manifest schema), how each is read from the server's agent and turned
from the manifest's form into the server's, and the tool-rule formats."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.values import JSON, canonical


@dataclass(frozen=True)
class Setting:
    """One managed agent field.

    `name` is the field on the server and in plans, `manifest` its key in templates, shared
    agents and `defaults`; `read` takes it from the server's agent; `required` fields must be
    set (here or in defaults); `text` fields may use `${user.*}` variables.
    """

    name: str
    manifest: str
    read: Callable[[Mapping[str, JSON]], JSON]
    required: bool = False
    text: bool = False
    convert: Callable[[Any], JSON] | None = None
    """Turns the manifest's value into the server's form (e.g. camelCase keys to snake_case)."""
    partial: bool = False
    """A settings object of which only the keys the manifest declares are managed: the
    server's defaults for the others never show as drift and are never overwritten."""


def _plain(name: str) -> Callable[[Mapping[str, JSON]], JSON]:
    return lambda raw: raw.get(name)


def _within(config: str, name: str) -> Callable[[Mapping[str, JSON]], JSON]:
    """A field the server reports inside one of the agent's configs (e.g. `llm_config`)."""

    def read(raw: Mapping[str, JSON]) -> JSON:
        settings = raw.get(config)
        return settings.get(name) if isinstance(settings, Mapping) else None

    return read


def _handle(name: str, config: str) -> Callable[[Mapping[str, JSON]], JSON]:
    """A model handle: the agent's own field, or the handle inside its config."""

    def read(raw: Mapping[str, JSON]) -> JSON:
        settings = raw.get(config)
        nested = settings.get("handle") if isinstance(settings, Mapping) else None
        return raw.get(name) or (nested if isinstance(nested, str) else None)

    return read


def _without(config: str, *names: str) -> Callable[[Mapping[str, JSON]], JSON]:
    """A settings object, without fields the stack never manages (long default texts)."""

    def read(raw: Mapping[str, JSON]) -> JSON:
        settings = raw.get(config)
        if not isinstance(settings, Mapping):
            return None
        return {key: value for key, value in settings.items() if key not in names}

    return read


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


def _read_tool_rules(raw: Mapping[str, JSON]) -> JSON:
    """The agent's rules of the kinds a manifest declares, as `_tool_rules_body` writes
    them (approval rules follow the tools' own `requiresApproval` and are not compared)."""
    rules = raw.get("tool_rules")
    if not isinstance(rules, list):
        return None
    found = [
        _normal_rule(rule)
        for rule in rules
        if isinstance(rule, Mapping) and rule.get("type") in _RULE_TYPES
    ]
    return sorted(found, key=rule_key)


def _normal_rule(rule: Mapping[str, JSON]) -> dict[str, JSON]:
    """Only the compared fields, unset ones and the server's false defaults left out."""
    kept = {k: v for k, v in rule.items() if k in _RULE_FIELDS and v not in (None, False)}
    if isinstance(kept.get("children"), list):
        kept["children"] = sorted(kept["children"])
    return kept


SETTINGS: tuple[Setting, ...] = (
    Setting("model", "model", _handle("model", "llm_config"), required=True),
    Setting("embedding", "embedding", _handle("embedding", "embedding_config"), required=True),
    Setting("description", "description", _plain("description"), text=True),
    Setting("system", "system", _plain("system")),
    Setting("timezone", "timezone", _plain("timezone")),
    Setting("context_window_limit", "contextWindowLimit", _within("llm_config", "context_window")),
    Setting(
        "model_settings",
        "modelSettings",
        _plain("model_settings"),
        convert=_by_table(MODEL_SETTINGS),
        partial=True,
    ),
    Setting(
        "compaction_settings",
        "compactionSettings",
        _without("compaction_settings", "prompt"),
        convert=_by_table(COMPACTION_SETTINGS),
        partial=True,
    ),
    Setting("tool_rules", "toolRules", _read_tool_rules, convert=_tool_rules_body),
    Setting("enable_sleeptime", "enableSleeptime", lambda raw: bool(raw.get("enable_sleeptime"))),
)


PARTIAL = frozenset(s.name for s in SETTINGS if s.partial)
FOLLOWS_MODEL = ("context_window_limit", "model_settings", "compaction_settings")
"""Settings the server derives anew from a new model handle: sent again with it."""
