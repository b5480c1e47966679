"""Translated messages: every user-facing text has a key and a Chinese and English form.

Chinese is the first language of the product; English is the second. Each domain keeps its
messages in gettext catalogues beside its code, `<domain>/locale/<zh|en>/LC_MESSAGES/<domain>.po`,
whose msgids are the keys; `make setup` compiles them to .mo files and `pybabel extract` (set up
in babel.cfg and pyproject.toml) finds the keys the code and the templates use. The catalogues
are found by looking through the package's folders, so core imports no domain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

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
