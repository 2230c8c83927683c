"""Properties the users of a template or shared agent lack. A property none of its users has
is a mistake in the template (`${user.properties.teir}`): reported once, where the template
uses it, with a "did you mean"; a property some users have is reported at each user lacking
it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.errors import Location
from reconciler.manifest.problems import Problems, suggest
from reconciler.manifest.users import User
from reconciler.manifest.variables import PROPERTY_VARIABLE, Text, user_values


@dataclass
class _Uses:
    """One template's or shared agent's users so far: how many, the property keys they have,
    and by variable the users lacking it and where the definition uses it."""

    users: int = 0
    keys: set[str] = field(default_factory=set)
    lacking: dict[str, list[User]] = field(default_factory=dict)
    used_at: dict[str, Location] = field(default_factory=dict)


class MissingProperties:
    """Collects, user by user, the variables a user cannot fill; `report` records them."""

    def __init__(self) -> None:
        self._uses: dict[str, _Uses] = {}

    def values(self, what: str, texts: Iterable[Text], user: User) -> dict[str, str] | None:
        """Every variable value the user gives the texts of `what` (`template 'assistant'`),
        or None when one is missing (noted for `report`)."""
        uses = self._uses.get(what)
        if uses is None:  # made once a template, not for every user
            uses = self._uses[what] = _Uses()
        uses.users += 1
        uses.keys.update(user.properties)
        values = user_values(user.id, user.name, user.properties)
        complete = True
        for text in texts:
            if text.variables <= values.keys():
                continue
            for name in sorted(text.variables - values.keys()):
                complete = False
                uses.used_at.setdefault(name, text.loc)
                lacking = uses.lacking.setdefault(name, [])
                if not lacking or lacking[-1] is not user:
                    lacking.append(user)
        return values if complete else None

    def report(self, problems: Problems) -> None:
        for what, uses in self._uses.items():
            for name, lacking in uses.lacking.items():
                key = name[len(PROPERTY_VARIABLE) :]
                if len(lacking) == uses.users:
                    users = f"{uses.users:,} user{'s' if uses.users != 1 else ''}"
                    hint = suggest(key, uses.keys)
                    message = f"{what}: no user of it ({users}) has property '{key}'{hint}"
                    problems.add(uses.used_at[name], message)
                    continue
                alike = f"users without property '{key}' (used by {what})"
                for user in lacking:
                    message = f"user '{user.id}' has no property '{key}' (used by {what})"
                    problems.add(user.where("properties"), message, alike=alike)
