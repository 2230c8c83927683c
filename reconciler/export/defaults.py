"""What the Letta server fills in when an agent, block or tool is made without it, so that an
export leaves it out, as `kubectl neat` trims `kubectl get -o yaml`: an export is a manifest a
person reviews, and a value the server would set anyway is noise there (left out, it stays
unmanaged and the server keeps it).

Taken from the server's code (Letta 0.16.8) and checked against what a fresh agent gets on a
real server (tests/integration/test_export_settings.py):
- timezone: `DEFAULT_TIMEZONE`;
- system prompts: `letta.prompts.system_prompts`, chosen by agent type in
  `derive_system_message` (kept here as digests of the stripped text);
- block descriptions: `DEFAULT_PERSONA_BLOCK_DESCRIPTION`, `DEFAULT_HUMAN_BLOCK_DESCRIPTION`
  (given to `persona` and `human` blocks made with an agent), limit
  `CORE_MEMORY_BLOCK_CHAR_LIMIT`;
- model settings: the agent's `llm_config` as `LLMConfig._to_model_settings` reports it, from
  the model's own configuration (the server's model list, per handle);
- compaction settings: `CompactionSettings` with the provider's summarizer model
  (`get_default_summarizer_model`, else the agent's own handle);
- tools: `FUNCTION_RETURN_CHAR_LIMIT`, and the description taken from the docstring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.client import LettaApi
from reconciler.manifest.blueprints import DEFAULT_BLOCK_LIMIT
from reconciler.shape import a_list
from reconciler.values import JSON

SYSTEM_PROMPTS = frozenset(  # of the prompt files' text, stripped as the server reads them
    {
        "ffe4ebde375d590e724c824c703078b2892cae0a5f0f5cc6bd1aea92583673db",  # letta_v1
        "be98c30273ceeccf09e54b60297446040682dfae4f5586979f0ea0ac8ce0006e",  # memgpt_v2_chat
        "39625b51d675467ff0f3711810689e6265fed4c961be5f36584af25014a02651",  # react
        "ed814fae1e83cb6c16999d3daa88d27ffda9d2b813cfc0121c0799a81f8c147d",  # workflow
        "b7afcdbeaa9df29b243b3db65775b31bfd53926a12ef7314e1240898474ec29b",  # voice_chat
    }
)
"""SHA-256 digests of the system prompts the server gives an agent made without one."""

BLOCK_DESCRIPTIONS = {
    "persona": (
        "The persona block: Stores details about your current persona, guiding how you "
        "behave and respond. This helps you to maintain consistency and personality in your "
        "interactions."
    ),
    "human": (
        "The human block: Stores key details about the person you are conversing with, "
        "allowing for more personalized and friend-like conversation."
    ),
}
"""The description a block of this label gets when made with an agent without one."""

TOOL_RETURN_CHAR_LIMIT = 50_000
DEFAULT_TIMEZONE = "UTC"

SUMMARIZERS = {
    "anthropic": "anthropic/claude-haiku-4-5",
    "openai": "openai/gpt-5-mini",
    "google_ai": "google_ai/gemini-2.5-flash",
    "letta": "letta/auto",
}
"""The compaction model of an agent made without one, by its model's provider."""

_LONG_OUTPUT = frozenset({"google_ai", "google_vertex"})
"""Model endpoint types whose default answer length is 65,536 tokens (others: 4,096)."""


@dataclass(frozen=True)
class ModelDefaults:
    """What an agent of one model handle gets: its context window, and by key of the
    manifest's model and compaction settings, the values the server sets by itself."""

    context_window: int | None
    model_settings: Mapping[str, tuple[JSON, ...]]
    compaction: Mapping[str, tuple[JSON, ...]]


GENERIC = ModelDefaults(
    None,
    {
        "temperature": (1.0,),
        "maxOutputTokens": (4096,),
        "reasoningEffort": ("minimal",),
        "strict": (False,),
        "parallelToolCalls": (True,),
    },
    {"mode": ("sliding_window",), "slidingWindowPercentage": (0.3,), "clipChars": (50_000,)},
)
"""For a handle the model list does not name: the server's defaults that hold for any model."""

OPENAI_SET = {"temperature": 0.7, "reasoningEffort": "high", "strict": True}
"""What the server fills in (`OpenAIModelSettings`) for the keys an update of an OpenAI-type
agent's model settings leaves out."""


@dataclass(frozen=True)
class ServerDefaults:
    """The defaults of one server, by model handle."""

    models: Mapping[str, ModelDefaults] = field(default_factory=dict)

    def model(self, handle: object) -> ModelDefaults:
        return self.models.get(handle, GENERIC) if isinstance(handle, str) else GENERIC


def read_defaults(api: LettaApi) -> ServerDefaults:
    """The server's defaults, from its model list (one request)."""
    listed = a_list(api.get("/v1/models/", address="model list"), "GET /v1/models/")
    models = {
        str(entry["handle"]): model_defaults(entry)
        for entry in listed
        if isinstance(entry, Mapping) and isinstance(entry.get("handle"), str)
    }
    return ServerDefaults(models)


def model_defaults(entry: Mapping[str, Any]) -> ModelDefaults:
    """An agent's defaults for a model, from the model's entry in the server's model list:
    what it gets when made, and (for OpenAI-type models) what an update fills in."""
    endpoint = entry.get("model_endpoint_type")
    made: dict[str, JSON] = {
        "temperature": entry.get("temperature", 1.0),
        "maxOutputTokens": entry.get("max_tokens")
        or (65_536 if endpoint in _LONG_OUTPUT else 4096),
        "reasoningEffort": entry.get("reasoning_effort") or "minimal",
        "strict": bool(entry.get("strict")),
        "parallelToolCalls": True,
    }
    updated = OPENAI_SET if (entry.get("provider_type") or endpoint) == "openai" else {}
    settings = {
        key: tuple(v for v in dict.fromkeys((value, updated.get(key))) if v is not None)
        for key, value in made.items()
    }
    provider = entry.get("provider_name") or endpoint
    summarizer = SUMMARIZERS.get(provider) if isinstance(provider, str) else None
    compaction = {**GENERIC.compaction, "model": (summarizer or entry.get("handle"),)}
    window = entry.get("context_window")
    return ModelDefaults(window if isinstance(window, int) else None, settings, compaction)


def is_default_system(text: object) -> bool:
    """Whether `text` is a system prompt the server gives an agent made without one."""
    if not isinstance(text, str):
        return False
    return hashlib.sha256(text.encode()).hexdigest() in SYSTEM_PROMPTS


def is_default_limit(limit: int | None) -> bool:
    return limit == DEFAULT_BLOCK_LIMIT


def is_default_description(label: str, description: str | None) -> bool:
    return description is not None and BLOCK_DESCRIPTIONS.get(label) == description


def tool_options(raw: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, JSON]:
    """A custom tool's options in manifest keys (`settings` as the tool kind reads them from
    `raw`), those the server would set anyway left out: the description it takes from the
    docstring, no requirements, its return limit, no approval."""
    found: dict[str, JSON] = {}
    described = raw.get("json_schema")
    docstring = described.get("description") if isinstance(described, Mapping) else None
    if (text := settings.get("description")) and text != docstring:
        found["description"] = text
    if requirements := settings.get("pip_requirements"):
        found["pipRequirements"] = list(requirements)
    if (limit := settings.get("return_char_limit")) not in (None, TOOL_RETURN_CHAR_LIMIT):
        found["returnCharLimit"] = limit
    if settings.get("default_requires_approval") is True:
        found["requiresApproval"] = True
    return found
