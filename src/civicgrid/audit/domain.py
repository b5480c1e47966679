"""What the audit domain reports: the problems `audit verify` finds, each naming the first
entry (or checkpoint) it concerns, and the proofs the API serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from civicgrid.core.i18n import Locale, translate


@dataclass(frozen=True)
class Problem:
    """One thing `audit verify` found wrong: a message key and its parameters, and the
    leaf index of the first entry it concerns (None for a checkpoint or a cosignature)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    index: int | None = None

    def message(self, locale: Locale) -> str:
        return translate(self.key, locale, self.params)


@dataclass
class VerifyReport:
    size: int = 0  # the tree's size as stored
    entries: int = 0  # entries read in leaf order
    pending: int = 0  # entries still waiting for their place
    checkpoints: int = 0
    cosignatures: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_entry(self) -> int | None:
        """The first entry any problem names (altered, missing, out of place)."""
        named = [p.index for p in self.problems if p.index is not None]
        return min(named) if named else None


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    hashes: list[bytes]
    root: bytes


@dataclass(frozen=True)
class ConsistencyProof:
    old: int
    new: int
    hashes: list[bytes]
    old_root: bytes
    new_root: bytes


@dataclass(frozen=True)
class Cosigned:
    """A checkpoint with the witnesses who cosigned it."""

    size: int
    root: bytes
    note: str  # the checkpoint with every signature line
    signed_at: datetime
    witnesses: list[tuple[str, datetime]]  # (witness key name, when it cosigned)
