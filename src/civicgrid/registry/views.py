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

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

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
    "IdentifierError",
    "SourceTable",
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
