"""Translated messages: every user-facing text has a key and a Chinese and English form.

Chinese is the first language of the product; English is the second. Each domain keeps its
messages in gettext catalogues beside its code, `<domain>/locale/<zh|en>/LC_MESSAGES/<domain>.po`,
whose msgids are the keys; `make setup` compiles them to .mo files and `pybabel extract` (set up
in babel.cfg and pyproject.toml) finds the keys the code and the templates use. The catalogues
are found by looking through the package's folders, so core imports no domain.

Dates, times and durations that people read are formatted here too, by Babel, in the reader's
language and the city's time zone (the `timezone` setting); whatever a machine reads (the API,
open data, <time datetime>) stays UTC ISO 8601. The city's days are its calendar days: "today"
and "this month" in the figures begin at its midnight.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")
PACKAGE = "civicgrid"


def N_(key: str) -> str:
    """KEY unchanged: marks a message key held in data (a table of keys, a list) so that
    `pybabel extract` finds it; it is translated where it is shown."""
    return key


def catalogue_files() -> Iterator[tuple[str, Locale, Traversable]]:
    """(domain, locale, folder) of every domain's LC_MESSAGES folder in the package."""
    for folder in sorted(resources.files(PACKAGE).iterdir(), key=lambda f: f.name):
        locale_dir = folder / "locale"
        if not folder.is_dir() or not locale_dir.is_dir():
            continue
        for locale in LOCALES:
            messages = locale_dir / locale / "LC_MESSAGES"
            if (messages / f"{folder.name}.po").is_file():
                yield folder.name, locale, messages


def read_catalogue(domain: str, folder: Traversable) -> dict[str, str]:
    """One domain's messages in one language: the compiled .mo, or the .po where no .mo was
    compiled (a fresh clone before `make setup`) or the .po was edited since."""
    po, mo = folder / f"{domain}.po", folder / f"{domain}.mo"
    if mo.is_file() and not _older(mo, po):
        with mo.open("rb") as handle:
            return _messages(read_mo(handle))
    with po.open("rb") as handle:
        return _messages(read_po(handle, domain=domain))


def _messages(catalog: Catalog) -> dict[str, str]:
    # A fuzzy or empty translation is as good as none (pybabel compile leaves them out too).
    return {
        message.id: message.string
        for message in catalog
        if isinstance(message.id, str)
        and message.id
        and isinstance(message.string, str)
        and message.string
        and not message.fuzzy
    }


def _older(mo: Traversable, po: Traversable) -> bool:
    if isinstance(mo, Path) and isinstance(po, Path):
        return mo.stat().st_mtime < po.stat().st_mtime
    return False


@cache
def _catalogues() -> dict[Locale, dict[str, str]]:
    merged: dict[Locale, dict[str, str]] = {locale: {} for locale in LOCALES}
    for domain, locale, folder in catalogue_files():
        merged[locale].update(read_catalogue(domain, folder))
    return merged


def message_text(key: str, locale: Locale = "zh") -> str | None:
    """The message for KEY in LOCALE with its placeholders unfilled; None when unknown."""
    return _catalogues()[locale].get(key)


def has_message(key: str) -> bool:
    return key in _catalogues()["zh"]


def translate(key: str, locale: Locale = "zh", params: Mapping[str, Any] | None = None) -> str:
    """The message for KEY in LOCALE, with PARAMS filled in; the key itself when unknown."""
    text = message_text(key, locale)
    if text is None:
        return key
    return text.format(**params) if params else text


def pick_locale(*candidates: str | None, default: Locale = "zh") -> Locale:
    """The first supported locale among CANDIDATES ('en', 'en-US,en;q=0.9', 'zh-CN', …)."""
    for candidate in candidates:
        if not candidate:
            continue
        for part in candidate.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return default


# ------------------------------------------------------------------ the city's clock


@cache
def zone(name: str) -> ZoneInfo:
    """The time zone NAME ("Asia/Shanghai"), checked by the settings."""
    return ZoneInfo(name)


def city_day(moment: datetime, tz: str) -> date:
    """The city's calendar day of MOMENT (a naive MOMENT is UTC, as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(tz)).date()


def day_start(day: date, tz: str) -> datetime:
    """The UTC instant at which the city's DAY begins, for queries over stored times."""
    return datetime.combine(day, time(), tzinfo=zone(tz)).astimezone(UTC)


def format_datetime(value: datetime, locale: Locale, tz: str, *, year: bool = True) -> str:
    """'2024年3月2日 10:15' / 'Mar 2, 2024, 10:15 AM' in the city's time zone TZ, or without
    the YEAR '3月2日 10:15' / 'Mar 2, 10:15 AM' (a naive VALUE is UTC, as stored)."""
    day = babel_dates.format_skeleton(
        "yMMMd" if year else "MMMd", value, tzinfo=zone(tz), locale=locale
    )
    clock = babel_dates.format_time(value, "short", tzinfo=zone(tz), locale=locale)
    # How the locale joins a date and a time, as Babel's own format_datetime joins them.
    pattern = str(babel_dates.get_datetime_format("medium", locale=locale)).replace("'", "")
    return pattern.replace("{1}", day).replace("{0}", clock)


def format_date(
    value: date | datetime, locale: Locale, tz: str | None = None, *, year: bool = True
) -> str:
    """'2024年3月2日' / 'Mar 2, 2024' (or '3月2日' / 'Mar 2'); a datetime is first placed on the
    city's calendar, so TZ is needed for one."""
    if isinstance(value, datetime):
        if tz is None:
            raise ValueError("a time needs the city's time zone to fall on a day")
        value = city_day(value, tz)
    return babel_dates.format_skeleton("yMMMd" if year else "MMMd", value, locale=locale)


DURATION_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def format_duration(delta: timedelta, locale: Locale) -> str:
    """'2天 4小时' / '2 days 4 hr', '3小时 10分钟' / '3 hr 10 min': the two largest whole
    units of DELTA's length (days, hours, minutes)."""
    left = int(abs(delta).total_seconds()) // 60 * 60
    parts: list[str] = []
    for unit, seconds in DURATION_UNITS:
        count, left = divmod(left, seconds)
        if count and len(parts) < 2:
            parts.append(_units(count * seconds, unit, locale))
        elif parts:
            break  # '2 days 10 min' says less than it seems to; stop at the first gap
    return " ".join(parts) or _units(0, "minute", locale)


def _units(seconds: int, unit: str, locale: Locale) -> str:
    # An infinite threshold keeps Babel from rounding 7 days up to a week.
    return babel_dates.format_timedelta(
        timedelta(seconds=seconds),
        granularity=unit,  # type: ignore[arg-type]
        threshold=math.inf,
        format="short",
        locale=locale,
    )
