"""How a shared value is shown, field by field, as a grant says: in full, its last N
characters, a phone as 138****5678, a name as 张*伟, a keyed hash (the same value gives the
same hash in every dataset, so records can be linked without the value), or generalised (a
birth date to its year, month or age band; an address or a grid to its community).

Masks are applied on the server to the values the database returns; consumers never send
an expression, so nothing they ask can unwrap a masked value. Which masks a field may take
depends on what it holds (a phone cannot be shown as an age band), and a field whose
grant says nothing is masked by what it is: personal information by its kind, sensitive
personal information by its keyed hash, and only non-personal data in full.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Any

from civicgrid.core.errors import InvalidInput
from civicgrid.core.security import mask_phone


class FieldType(StrEnum):
    """What a field holds, which decides its checks and the masks it may take."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    NAME = "name"  # a person's name
    PHONE = "phone"
    # An identity number: kept only as the registry keeps it, masked (110105********0213)
    # with its keyed hash beside it; no one reads the whole number from the platform.
    IDENTITY = "identity"
    KEY_HASH = "hash"  # already a keyed hash (the registry's id_hash)
    CREDIT_CODE = "credit_code"  # 统一社会信用代码
    ADDRESS = "address"
    GRID = "grid"  # a grid's code: places the row in the area hierarchy


class Personal(StrEnum):
    """The personal-information mark of a field (PIPL art. 4 and 28)."""

    NONE = "none"
    PERSONAL = "personal"  # 个人信息
    SENSITIVE = "sensitive"  # 敏感个人信息


class MaskKind(StrEnum):
    FULL = "full"
    LAST = "last"  # last:N
    PHONE = "phone"
    NAME = "name"
    HASH = "hash"
    YEAR = "year"
    MONTH = "month"
    AGE_BAND = "age_band"
    COMMUNITY = "community"


# The masks each kind of field may take.
APPLICABLE: dict[FieldType, tuple[MaskKind, ...]] = {
    FieldType.TEXT: (MaskKind.FULL, MaskKind.LAST, MaskKind.HASH),
    FieldType.INTEGER: (MaskKind.FULL, MaskKind.HASH),
    FieldType.NUMBER: (MaskKind.FULL, MaskKind.HASH),
    FieldType.DATE: (
        MaskKind.FULL,
        MaskKind.MONTH,
        MaskKind.YEAR,
        MaskKind.AGE_BAND,
        MaskKind.HASH,
    ),
    FieldType.DATETIME: (MaskKind.FULL, MaskKind.MONTH, MaskKind.YEAR, MaskKind.HASH),
    FieldType.NAME: (MaskKind.FULL, MaskKind.NAME, MaskKind.LAST, MaskKind.HASH),
    FieldType.PHONE: (MaskKind.FULL, MaskKind.PHONE, MaskKind.LAST, MaskKind.HASH),
    FieldType.IDENTITY: (MaskKind.FULL, MaskKind.LAST, MaskKind.HASH),
    FieldType.KEY_HASH: (MaskKind.FULL, MaskKind.HASH),
    FieldType.CREDIT_CODE: (MaskKind.FULL, MaskKind.LAST, MaskKind.HASH),
    FieldType.ADDRESS: (MaskKind.FULL, MaskKind.COMMUNITY, MaskKind.HASH),
    FieldType.GRID: (MaskKind.FULL, MaskKind.COMMUNITY, MaskKind.HASH),
}
# How much of the value each mask shows, least hidden first: a narrowed grant may keep a
# field's mask or hide more, never show more.
_HIDING = {
    MaskKind.FULL: 0,
    MaskKind.LAST: 1,
    MaskKind.PHONE: 1,
    MaskKind.NAME: 1,
    MaskKind.MONTH: 1,
    MaskKind.YEAR: 2,
    MaskKind.AGE_BAND: 2,
    MaskKind.COMMUNITY: 2,
    MaskKind.HASH: 3,
}
MAX_LAST = 8  # the most characters "last:N" shows (identity numbers: 4, all that is kept)
IDENTITY_KEPT = 4  # the registry keeps an identity number's region and last four


@dataclass(frozen=True)
class Mask:
    kind: MaskKind
    n: int = 0  # LAST: how many characters

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.n}" if self.kind is MaskKind.LAST else self.kind.value

    @classmethod
    def parse(cls, text: str, field: str) -> Mask:
        """ "full", "last:4", "phone", "name", "hash", "year", "month", "age_band",
        "community"; a 422 naming FIELD for anything else."""
        name, _, count = str(text).strip().lower().partition(":")
        try:
            kind = MaskKind(name)
        except ValueError:
            raise InvalidInput(
                "exchange_mask_unknown",
                field=field,
                mask=text,
                allowed=", ".join(k.value for k in MaskKind),
            ) from None
        if kind is not MaskKind.LAST:
            if count:
                raise InvalidInput(
                    "exchange_mask_unknown", field=field, mask=text, allowed="last:N"
                )
            return cls(kind)
        n = int(count) if count.isascii() and count.isdigit() else 0
        if not 1 <= n <= MAX_LAST:
            raise InvalidInput("exchange_mask_last", field=field, mask=text, most=MAX_LAST)
        return cls(kind, n)

    def hides_at_least(self, other: Mask) -> bool:
        """True when this mask shows no more than OTHER does."""
        if self.kind is MaskKind.LAST and other.kind is MaskKind.LAST:
            return self.n <= other.n
        return _HIDING[self.kind] >= _HIDING[other.kind]


FULL = Mask(MaskKind.FULL)
HASHED = Mask(MaskKind.HASH)


def check_mask(field_type: FieldType, mask: Mask, field: str) -> Mask:
    """MASK, when a field of FIELD_TYPE may take it; else a 422 naming the field and the
    masks it may take."""
    allowed = APPLICABLE[field_type]
    if mask.kind not in allowed:
        raise InvalidInput(
            "exchange_mask_not_for_type",
            field=field,
            mask=str(mask),
            type=field_type.value,
            allowed=", ".join(k.value for k in allowed),
        )
    return mask


def default_mask(field_type: FieldType, personal: Personal) -> Mask:
    """How a field is shown when its grant does not say: non-personal data in full,
    personal information masked by what it is, sensitive personal information hashed."""
    if field_type is FieldType.KEY_HASH:
        return FULL
    if personal is Personal.NONE:
        return FULL
    if personal is Personal.SENSITIVE:
        return HASHED
    return {
        FieldType.NAME: Mask(MaskKind.NAME),
        FieldType.PHONE: Mask(MaskKind.PHONE),
        FieldType.IDENTITY: Mask(MaskKind.LAST, IDENTITY_KEPT),
        FieldType.ADDRESS: Mask(MaskKind.COMMUNITY),
        FieldType.GRID: Mask(MaskKind.COMMUNITY),
        FieldType.DATE: Mask(MaskKind.YEAR),
        FieldType.DATETIME: Mask(MaskKind.MONTH),
    }.get(field_type, HASHED)


# ------------------------------------------------------------------ the masks themselves


def mask_person_name(name: str) -> str:
    """张三伟 → 张*伟, 欧阳娜娜 → 欧**娜, 张三 → 张*; Alice Smith → A***e S***h."""
    if not name:
        return ""
    if name.isascii():
        return " ".join(_ends(part) for part in name.split())
    return _ends(name)


def _ends(word: str) -> str:
    if len(word) <= 1:
        return "*" * len(word)
    if len(word) == 2:
        return word[0] + "*"
    return word[0] + "*" * (len(word) - 2) + word[-1]


def show_last(value: str, n: int) -> str:
    """The last N characters, the rest as stars; all stars when the value is no longer
    than N (showing its last N would show all of it)."""
    if len(value) <= n:
        return "*" * len(value)
    return "*" * (len(value) - n) + value[-n:]


def show_identity_last(masked: str, n: int) -> str:
    """An identity number as the registry keeps it (110105********0213), its region and
    its last N (at most four) characters."""
    n = max(1, min(n, IDENTITY_KEPT))
    if len(masked) < 10:
        return "*" * len(masked)
    return masked[:6] + "*" * (len(masked) - 6 - n) + masked[-n:]


_DATE_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
AGE_BANDS = ((0, 17), (18, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79))


def as_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE_TEXT.match(str(value or ""))
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@functools.lru_cache(maxsize=65536)
def age_band(born: date, today: date) -> str:
    # Cached: a page of 100 people asks it 100 times, and birth days repeat across pages.
    age = age_on(born, today)
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "80+" if age >= 80 else ""


class Hasher:
    """The exchange's keyed hash of a value (HMAC-SHA256 with a key derived from the
    platform's secret, 128 bits in hex): the same value gives the same hash in every
    dataset and every grant, so a consumer links records without learning the value.
    Identity numbers take the registry's own keyed hash instead, so they link with it."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(f"civicgrid.exchange:{secret}".encode()).digest()

    def __call__(self, field_type: FieldType, value: Any) -> str:
        text = _normalised(field_type, value)
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]


def _normalised(field_type: FieldType, value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value).strip()
    if field_type is FieldType.PHONE:
        return re.sub(r"\D", "", text)
    if field_type in (FieldType.NAME, FieldType.ADDRESS):
        return re.sub(r"\s+", "", text)
    return text


# A row as a source returns it: each field's value by field name, and beside them the
# identity hash of an identity field ("<name>#hash"), the grid the row lies in ("#grid")
# and the record it is ("#id").
Row = Mapping[str, Any]
Shown = Callable[[Any, Row], Any]


def shower(
    name: str,
    field_type: FieldType,
    mask: Mask,
    *,
    hasher: Hasher,
    today: date,
    community_of: Callable[[str | None], str | None],
) -> Shown:
    """How field NAME is shown under MASK: a function of its value and its row. Empty
    values stay empty (None); a value a mask cannot read (a date that is not one) is
    withheld (None), never shown as it is."""

    def plain(value: Any, row: Row) -> Any:
        # Values as JSON and every file format write them: an enum's member as its value
        # (writing members out cost a page of 100 rows four times the rest of its JSON).
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    kind = mask.kind
    if kind is MaskKind.FULL:
        return plain
    if kind is MaskKind.HASH:
        if field_type is FieldType.IDENTITY:
            companion = f"{name}#hash"
            return lambda value, row: row.get(companion) or None
        if field_type is FieldType.KEY_HASH:
            return plain
        return lambda value, row: hasher(field_type, value)
    if kind is MaskKind.LAST:
        n = mask.n
        if field_type is FieldType.IDENTITY:
            return lambda value, row: show_identity_last(str(value), n)
        return lambda value, row: show_last(str(value), n)
    if kind is MaskKind.PHONE:
        return lambda value, row: mask_phone(re.sub(r"[\s]", "", str(value)))
    if kind is MaskKind.NAME:
        return lambda value, row: mask_person_name(str(value))
    if kind is MaskKind.YEAR:

        def year(value: Any, row: Row) -> Any:
            day = as_day(value)
            return None if day is None else f"{day.year:04d}"

        return year
    if kind is MaskKind.MONTH:

        def month(value: Any, row: Row) -> Any:
            day = as_day(value)
            return None if day is None else f"{day.year:04d}-{day.month:02d}"

        return month
    if kind is MaskKind.AGE_BAND:

        def band(value: Any, row: Row) -> Any:
            day = as_day(value)
            return None if day is None else age_band(day, today) or None

        return band
    if kind is MaskKind.COMMUNITY:
        if field_type is FieldType.GRID:
            return lambda value, row: community_of(str(value))
        return lambda value, row: community_of(row.get("#grid"))
    raise AssertionError(kind)  # pragma: no cover - every kind is handled above


def show_row(row: Row, shown: Mapping[str, Shown]) -> dict[str, Any]:
    """ROW with only the fields in SHOWN, each as its mask shows it."""
    out: dict[str, Any] = {}
    for name, show in shown.items():
        value = row.get(name)
        out[name] = None if value is None or value == "" else show(value, row)
    return out
