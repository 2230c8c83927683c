"""What a plan deletes, counted one way for the plan's summary and for the deletion guards:
the resources it deletes by kind, an agent's own memory blocks counted with their agent, and
whether that is more than the stack's share (`prune.maxDeletePercent`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from reconciler.address import Kind
from reconciler.plan.model import Delete, Plan


@dataclass(frozen=True)
class Deletions:
    """A plan's deletions: `by_kind` the deletes by kind of resource (in `Kind` order),
    `own_blocks` the agents' own memory blocks deleted with them; `owned` what the stack owns
    and `max_percent` the share of it a run may delete without `--allow-mass-delete`."""

    by_kind: tuple[tuple[Kind, int], ...]
    own_blocks: int
    owned: int
    max_percent: float

    @property
    def total(self) -> int:
        """Every resource deleted: what both guards count."""
        return sum(n for _, n in self.by_kind) + self.own_blocks

    @property
    def over_share(self) -> bool:
        """More than the stack's share: applying needs `--allow-mass-delete`."""
        return self.total > self.owned * self.max_percent / 100

    def phrase(self) -> str:
        """`1 agent with its 2 memory blocks`, `3 agents with their 6 memory blocks and 1
        identity`, and the total when it differs from what is named first."""
        parts = [self._kind_phrase(kind, number) for kind, number in self.by_kind]
        named = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        if self.own_blocks or len(parts) > 1:
            return f"{named} ({self.total:,} resources)"
        return named

    def share(self) -> str:
        """`19 of the 19 resources the stack owns, more than its maxDeletePercent of 25%`."""
        return (
            f"{self.total:,} of the {self.owned:,} resources the stack owns, more than its "
            f"maxDeletePercent of {self.max_percent:g}%"
        )

    def _kind_phrase(self, kind: Kind, number: int) -> str:
        text = kind.counted(number)
        if kind is Kind.AGENT and self.own_blocks:
            whose = "its" if number == 1 else "their"
            text += f" with {whose} {Kind.BLOCK.counted(self.own_blocks)}"
        return text


def deletions(plan: Plan) -> Deletions:
    """Count what `plan` deletes."""
    deletes = [change for change in plan.changes if isinstance(change, Delete)]
    kinds = Counter(change.address.kind for change in deletes)
    return Deletions(
        by_kind=tuple((kind, kinds[kind]) for kind in Kind if kinds[kind]),
        own_blocks=sum(len(change.owned_children) for change in deletes),
        owned=plan.owned_resources,
        max_percent=plan.max_delete_percent,
    )
