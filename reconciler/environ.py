"""What the process environment gives a stack: the variables the operator lets manifests read
(`--allow-env`, `LETTA_APPLY_ALLOW_ENV`), and the one reader of the variables a manifest names.

A manifest names variables (`valueFromEnv`); the operator, not the manifest, decides which of
them it may read. The credentials letta-apply and CI runners use are never readable, allowed
or not. A refused name is reported the same way whether or not the variable is set, so a
manifest cannot probe which variables a job holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from reconciler.errors import LettaApplyError

ALLOW_VARIABLE = "LETTA_APPLY_ALLOW_ENV"
"""Holds the patterns of the variables manifests may read, separated by commas or spaces."""

CREDENTIALS = ("LETTA_*", "GITHUB_*", "ACTIONS_*", "RUNNER_*")
"""Variables of letta-apply (its API key, its own key) and of CI runners (their tokens):
never readable by a manifest."""


def is_credential(name: str) -> bool:
    """Whether `name` is one of `CREDENTIALS` (in any case: some systems ignore it)."""
    return any(fnmatchcase(name.upper(), pattern) for pattern in CREDENTIALS)


def credential_refusal(name: str) -> str:
    """Why a manifest may not name `name`, one of `CREDENTIALS`."""
    shown = ", ".join(CREDENTIALS)
    return (
        f"environment variable {name} is a credential of letta-apply or the CI runner "
        f"({shown}): a manifest can never read it"
    )


class EnvRefused(LettaApplyError):
    """A manifest named a variable the operator does not let it read (or several: one
    problem a line)."""

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def lines(self) -> tuple[str, ...]:
        return self.problems


@dataclass(frozen=True)
class EnvGrant:
    """The variables the operator lets manifests read: name patterns (`SHOP_*`, globs).

    `read` is the only way to a manifest-named variable's value; everything that reads one
    (planning secrets, applying them) goes through it.
    """

    patterns: tuple[str, ...] = ()
    environ: Mapping[str, str] = field(
        default_factory=lambda: os.environ, repr=False, compare=False
    )

    @classmethod
    def from_operator(
        cls, given: Iterable[str] = (), environ: Mapping[str, str] | None = None
    ) -> EnvGrant:
        """The patterns given on the command line and in `LETTA_APPLY_ALLOW_ENV`, together."""
        environ = os.environ if environ is None else environ
        values = [*given, environ.get(ALLOW_VARIABLE, "")]
        found = (part for value in values for part in re.split(r"[\s,]+", value) if part)
        return cls(tuple(dict.fromkeys(found)), environ)

    def refusal(self, name: str) -> str | None:
        """Why a manifest may not read `name`, or None when it may."""
        if is_credential(name):
            return credential_refusal(name)
        if not any(fnmatchcase(name, pattern) for pattern in self.patterns):
            return (
                f"environment variable {name} is not one the operator lets manifests read "
                f"(allow it with --allow-env or {ALLOW_VARIABLE})"
            )
        return None

    def read(self, name: str) -> str | None:
        """The value of `name`, None when it is not set; EnvRefused when it may not be read
        (whether or not it is set)."""
        refused = self.refusal(name)
        if refused is not None:
            raise EnvRefused(refused)
        return self.environ.get(name)
