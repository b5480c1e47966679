"""What other domains tell the areas module about an area, without areas importing them.

accounts contributes the grid workers and account counts; later domains (registry, cases)
contribute their own counts. They are wired together once, in civicgrid.bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from civicgrid.areas.domain import Area
from civicgrid.core.permissions import Actor


@dataclass
class AreaFacts:
    counts: dict[str, int] = field(default_factory=dict)
    # Each worker: {"username", "name", "phone"}, already masked for the actor if needed.
    workers: list[dict[str, str]] = field(default_factory=list)


class AreaFactSource(Protocol):
    def __call__(self, session: Session, area: Area, actor: Actor, facts: AreaFacts) -> None: ...


FACT_SOURCES: list[AreaFactSource] = []


def register_fact_source(source: AreaFactSource) -> None:
    if source not in FACT_SOURCES:
        FACT_SOURCES.append(source)
