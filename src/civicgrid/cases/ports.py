"""What cases needs from elsewhere, declared here and implemented outside:

- CategorySuggester: guesses a category from the report's text. `insight` implements a
  trained one; the default here matches category names and keywords.
- UrgencyScorer: how urgent a report reads (threats, danger, vulnerable people, anger) and
  its tone (angry … grateful), with the words that say so; an urgent one is taken in as
  urgent. `insight` implements it; the default here finds nothing.
- AddressResolver: turns a free-text address into a point. StandardAddressResolver reads
  the registry's standard addresses (through registry.views) and falls back on the area
  names (AreaNameResolver: community, street, grid).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from civicgrid.cases.domain import Category, Urgency

log = logging.getLogger("civicgrid.notify")


@dataclass(frozen=True)
class Suggestion:
    category_code: str
    confidence: float


# A suggested category is chosen for the person only when the suggester is sure of it: a
# confidence of at least SURE_CONFIDENCE and SURE_MARGIN ahead of the next suggestion.
# Otherwise the form offers the top suggestions and she picks (a report of a damaged road
# that mentions an old man is not elderly care).
SURE_CONFIDENCE = 0.6
SURE_MARGIN = 0.2


def is_sure(confidences: Sequence[float]) -> bool:
    """Whether the first of CONFIDENCES (best first) may be chosen for the person."""
    if not confidences:
        return False
    runner_up = confidences[1] if len(confidences) > 1 else 0.0
    return confidences[0] >= SURE_CONFIDENCE and confidences[0] - runner_up >= SURE_MARGIN


class CategorySuggester(Protocol):
    def suggest(self, text: str, categories: Sequence[Category]) -> list[Suggestion]:
        """Candidate categories for TEXT, best first."""


class KeywordSuggester:
    """Scores each level-2 category by how many of its name's and keywords' terms appear in
    the text. A floor that works on day one; a trained model replaces it."""

    def suggest(self, text: str, categories: Sequence[Category]) -> list[Suggestion]:
        scored = []
        for category in categories:
            if category.parent_code is None or not category.active:
                continue
            terms = [category.name, *category.keywords.split()]
            hits = sum(1 for term in terms if term and term in text)
            if hits:
                scored.append((hits, category.code))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        total = sum(hits for hits, _ in scored) or 1
        # A category's share of the matched words, discounted by how few words matched:
        # one word is weak evidence however alone it is (1 word: at most 0.5).
        return [Suggestion(code, hits / total * hits / (hits + 1)) for hits, code in scored[:5]]


class UrgencyScorer(Protocol):
    def score(self, text: str) -> Urgency:
        """How urgent TEXT reads, with the words that say so."""


class NoUrgency:
    def score(self, text: str) -> Urgency:
        return Urgency(0.0)


@dataclass(frozen=True)
class ResolvedAddress:
    lat: float
    lon: float
    matched: str  # what in the address was recognised, for the timeline


class AddressResolver(Protocol):
    def resolve(self, session: Session, address: str) -> ResolvedAddress | None: ...


class AreaNameResolver:
    """Finds the most specific area named in the address (a grid, else a community, a
    street, a district) and answers a point inside it. Where two areas share a name, the
    one whose parents are also named wins."""

    def resolve(self, session: Session, address: str) -> ResolvedAddress | None:
        from civicgrid.areas.repository import AreaRepository

        repo = AreaRepository(session)
        best: tuple[int, int, str] | None = None
        names = repo.names()
        for code, (name, level_rank, path) in names.items():
            if level_rank == 0 or name not in address:
                continue
            ancestors = path.strip("/").split("/")[:-1]
            support = sum(1 for a in ancestors if a in names and names[a][0] in address)
            score = (level_rank, support, code)
            if best is None or score[:2] > best[:2]:
                best = score
        if best is None:
            return None
        area = repo.get(best[2])
        if area is None:
            return None
        point = area.geometry.representative_point()
        return ResolvedAddress(lat=point.y, lon=point.x, matched=area.name)


class StandardAddressResolver:
    """The registry's standard addresses (标准地址) first: an address written as the
    registry writes it, or in a form that names exactly one of them, is placed at that
    address's point; anything else is left to FALLBACK (the area names)."""

    def __init__(self, fallback: AddressResolver) -> None:
        self.fallback = fallback

    def resolve(self, session: Session, address: str) -> ResolvedAddress | None:
        from civicgrid.registry.views import address_named

        found = address_named(session, address)
        if found is not None and found.lat is not None and found.lon is not None:
            return ResolvedAddress(lat=found.lat, lon=found.lon, matched=found.text)
        return self.fallback.resolve(session, address)
