"""What other domains may read of the registry (一标三实): the read views the registry
declares, and the checks it applies to what departments send.

The exchange shares registry records with other units and answers yes/no questions about
them; it reads them here, never through the registry's tables (an import-linter contract
holds the line), so the registry can change how it stores a record by changing this module
alone. Like cases.views, each view is a plain selection used as a subquery, which both
databases flatten into the reader's query so the registry's indexes serve it.

Identity numbers are not here: the registry keeps only their masked form and a keyed hash
(`id_masked`, `id_hash`), and `identity_hash` computes the same hash of a number someone
types, so a number can be looked up without ever being stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from civicgrid.registry.addresses import normalise, parse_address
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.identifiers import (
    IdentifierError,
    IdentityHasher,
    mask_identity,
    parse_credit_code,
    parse_identity,
    parse_phone,
)
from civicgrid.registry.importing import SourceTable, open_table, parse_date
from civicgrid.registry.repository import (
    registry_addresses,
    registry_batches,
    registry_houses,
    registry_organisations,
    registry_people,
)

__all__ = [
    "KINDS",
    "AddressPoint",
    "IdentifierError",
    "SourceTable",
    "address_by_id",
    "address_named",
    "addresses_like",
    "identity_hash",
    "last_import",
    "mask_identity",
    "open_table",
    "parse_credit_code",
    "parse_date",
    "parse_identity",
    "parse_phone",
    "record_rows",
    "valid_value",
]

# Every record, one row each, with the columns other units may be granted. Provenance
# beyond the source (batches, content hashes, source keys) stays inside the registry.
_COMMON = ("id", "source", "entity_id", "grid_code", "updated_at")
_COLUMNS = {
    RecordKind.PERSON: (
        registry_people,
        (
            "name",
            "id_masked",
            "id_hash",
            "sex",
            "birth_date",
            "phone",
            "residence",
            "registered_on",
            "expires_on",
            "household_address",
            "address_text",
            "address_id",
            "house_id",
            "care_tags",
        ),
    ),
    RecordKind.HOUSE: (
        registry_houses,
        (
            "kind",
            "area_m2",
            "occupancy_limit",
            "owner_name",
            "owner_phone",
            "manager_name",
            "address_text",
            "address_id",
        ),
    ),
    RecordKind.ORGANISATION: (
        registry_organisations,
        (
            "name",
            "credit_code",
            "kind",
            "address_text",
            "address_id",
            "contact_name",
            "contact_phone",
        ),
    ),
    RecordKind.ADDRESS: (
        registry_addresses,
        (
            "district",
            "street",
            "community",
            "road",
            "number",
            "estate",
            "building",
            "unit",
            "room",
            "text",
            "lat",
            "lon",
        ),
    ),
}
KINDS: tuple[str, ...] = tuple(kind.value for kind in _COLUMNS)

_VIEWS: dict[str, Subquery] = {
    kind.value: select(*(table.c[name] for name in (*_COMMON, *columns))).subquery(
        f"registry_{kind.value}_rows"
    )
    for kind, (table, columns) in _COLUMNS.items()
}


def record_rows(kind: str) -> Subquery:
    """The view of one kind of record ("people", "houses", "organisations", "addresses"):
    `id` identifies a record, `grid_code` places it, `updated_at` says when a department
    last changed it. KeyError for another kind."""
    return _VIEWS[RecordKind(kind).value]


@dataclass(frozen=True)
class AddressPoint:
    """A standard address (标准地址) as intake places a report at it: its written form, its
    point (None when the registry has none) and the grid it lies in."""

    id: int
    text: str
    lat: float | None
    lon: float | None
    grid_code: str | None


_ADDRESS_COLUMNS = (
    registry_addresses.c.id,
    registry_addresses.c.text,
    registry_addresses.c.lat,
    registry_addresses.c.lon,
    registry_addresses.c.grid_code,
)


def _points(rows: Iterable[Any]) -> list[AddressPoint]:
    return [AddressPoint(int(r.id), str(r.text), r.lat, r.lon, r.grid_code) for r in rows]


def address_by_id(session: Session, address_id: int) -> AddressPoint | None:
    """The standard address numbered ADDRESS_ID (Open311's address_id), or None."""
    rows = session.execute(
        select(*_ADDRESS_COLUMNS).where(registry_addresses.c.id == address_id)
    ).all()
    return next(iter(_points(rows)), None)


def address_named(session: Session, text: str) -> AddressPoint | None:
    """The one standard address TEXT names: written as the registry writes it, or in any
    form the registry's address parser reads to the same parts (or to the door of exactly
    one address). None when it names none or several: never a guess."""
    text = text.strip()
    if not text:
        return None
    exact = session.execute(
        select(*_ADDRESS_COLUMNS).where(registry_addresses.c.text == text).limit(2)
    ).all()
    if len(exact) == 1:
        return _points(exact)[0]
    parsed = parse_address(text)
    road, number, building, unit, room = parsed.door_key()
    if not (road and number) and not (parsed.estate and building):
        return None
    a = registry_addresses.c
    place = a.road == road if parsed.road else a.estate == parsed.estate
    stmt = select(*_ADDRESS_COLUMNS, *(a[name] for name in _PARTS)).where(
        place, a.number == number, a.building == building, a.unit == unit, a.room == room
    )
    found = session.execute(stmt.limit(50)).all()
    same = [r for r in found if tuple(getattr(r, n) for n in _PARTS) == parsed.key()]
    chosen = same if len(same) == 1 else found
    return _points(chosen)[0] if len(chosen) == 1 else None


_PARTS = ("district", "street", "community", "road", "number", "estate", "building", "unit", "room")


def addresses_like(session: Session, text: str, limit: int = 8) -> list[AddressPoint]:
    """Standard addresses whose written form holds every word of TEXT, shortest first
    (as someone types an address, the buildings of a road come before its rooms)."""
    words = [w for w in (normalise(part) for part in text.split()) if w][:6]
    if not words:
        return []
    stmt = select(*_ADDRESS_COLUMNS).where(
        *(registry_addresses.c.text.contains(word, autoescape=True) for word in words)
    )
    stmt = stmt.order_by(func.length(registry_addresses.c.text), registry_addresses.c.id)
    return _points(session.execute(stmt.limit(max(1, min(limit, 50)))).all())


def last_import(session: Session) -> datetime | None:
    """When the last import of any department's file finished (the registry's records
    change then, and with them what is shared of them)."""
    found: datetime | None = session.execute(
        select(func.max(registry_batches.c.finished_at))
    ).scalar()
    return found


# The key of the identity hashes is derived from the platform's secret as the imports
# derive it (registry.services.hash_secret; tests/integration/test_exchange.py holds the
# two to the same hash).
HASH_CONTEXT = "civicgrid-registry-identity:"


def identity_hash(secret_key: str) -> Callable[[str], str]:
    """The registry's keyed hash of a checked identity number (as `id_hash` holds it), so
    a number can be found and linked without being kept."""
    return IdentityHasher(HASH_CONTEXT + secret_key)


def _checked(check: Callable[[str], object]) -> Callable[[str], bool]:
    def valid(text: str) -> bool:
        try:
            check(text)
        except IdentifierError:
            return False
        return True

    return valid


def _masked_identity(text: str) -> bool:
    # What the registry keeps of a number: the region, stars, the last four.
    return len(text) == 18 and text[:6].isdigit() and text[6:14] == "*" * 8


# The registry's own checks of a value, by what the value is: an identity number (the
# masked form the registry keeps counts as valid), a mobile or fixed-line phone, a unified
# social credit code, a date in any of the forms departments write.
_VALIDITY: dict[str, Callable[[str], bool]] = {
    "identity": lambda text: _masked_identity(text) or _checked(parse_identity)(text),
    "phone": _checked(parse_phone),
    "credit_code": _checked(parse_credit_code),
    "date": lambda text: parse_date(text) is not None,
}


def valid_value(kind: str, text: str) -> bool | None:
    """Whether TEXT is a valid value of KIND by the registry's checks; None when the
    registry has no check for KIND."""
    check = _VALIDITY.get(kind)
    return None if check is None else check(text)
