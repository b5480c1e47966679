"""Bounded types the routes share for what a client sends: record numbers, page numbers and
days. A value outside them is a 422 naming the parameter where the request is read, instead
of an error where it reaches the database (a number beyond its integer columns, a day whose
midnight falls outside the calendar). And the forms of the contact details people leave."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from annotated_types import Ge, Le

# PostgreSQL's integer, the type of every id column (SQLite's are wider). A page number is
# bounded the same way, so an offset (page × page size) always fits the database's bigint.
DB_INT_MAX = 2**31 - 1

BoundedInt = Annotated[int, Ge(1), Le(DB_INT_MAX)]
# A record's number in a path, a query or a body, and a page of a list.
RecordId = BoundedInt
PageNumber = BoundedInt

# The days a filter may name: wide enough for any record, narrow enough that a day's
# midnight in any time zone, and a period of a few months after it, is still a datetime.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
Day = Annotated[date, Ge(FIRST_DAY), Le(LAST_DAY)]


# A phone someone leaves to be called back on: digits, an optional leading +, and spaces or
# dashes between them; 6 to 20 digits (an extension without its area code, an
# international number with its country code).
_PHONE = re.compile(r"\+?[0-9][0-9 -]*")
PHONE_DIGITS = (6, 20)
# An e-mail address of a sane form: one @, nothing blank, a domain of dotted labels whose
# last has two characters or more; 254 characters at most (SMTP's limit).
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[^@\s.]{2,}")


def is_phone(text: str) -> bool:
    digits = sum(ch in "0123456789" for ch in text)
    return _PHONE.fullmatch(text.strip()) is not None and (
        PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]
    )


def is_email(text: str) -> bool:
    return len(text) <= 254 and _EMAIL.fullmatch(text.strip()) is not None


def record_number(text: str | None) -> int | None:
    """The record or page number TEXT names (ASCII digits, 1 … DB_INT_MAX), or None, for
    numbers read leniently from a query string, a form or a path segment: anything else
    names no record. (str.isdigit alone lets "²" through to int(), which refuses it.)"""
    text = (text or "").strip()
    if not (0 < len(text) <= len(str(DB_INT_MAX)) and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= DB_INT_MAX else None
