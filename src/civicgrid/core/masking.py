"""One rule for people's identifiers wherever they are shown: names, phones, e-mails and
identity numbers. Whose identifier it is decides which roles read it in full; everyone
else reads it masked (张**, 138****5678, w******@example.com, 110105********1234). Every
answer and page goes through here (tests/integration/test_masking.py walks them all as
every role and looks for what a role may not read).
"""

from __future__ import annotations

import re
from enum import StrEnum

from civicgrid.core.permissions import STAFF_ROLES, Role
from civicgrid.core.security import mask_email, mask_name, mask_phone


class Whose(StrEnum):
    """Whose identifier is shown, which decides who reads it in full."""

    # Someone who reported a case or added her voice: the dispatch centre reaches her; the
    # unit handling the case and the other reporters do not.
    REPORTER = "reporter"
    # A resident, house owner or organisation of the registry (一标三实): the grid's own
    # staff visit them; the data office and leaders work with masked figures.
    RESIDENT = "resident"
    # The platform's staff (a grid worker's phone on her grid's panel): other staff.
    STAFF = "staff"


FULL: dict[Whose, frozenset[Role]] = {
    Whose.REPORTER: frozenset({Role.DISPATCHER, Role.CADRE, Role.ADMIN}),
    Whose.RESIDENT: frozenset({Role.GRID_WORKER, Role.CADRE}),
    Whose.STAFF: STAFF_ROLES,
}


def reads_in_full(role: Role | None, whose: Whose) -> bool:
    return role is not None and role in FULL[whose]


def phone(value: str | None, role: Role | None, whose: Whose) -> str:
    return (value or "") if reads_in_full(role, whose) else mask_phone(value)


def email(value: str | None, role: Role | None, whose: Whose) -> str:
    return (value or "") if reads_in_full(role, whose) else mask_email(value)


def name(value: str | None, role: Role | None, whose: Whose) -> str:
    return (value or "") if reads_in_full(role, whose) else mask_name(value)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A mobile or landline number, or an identity number, written anywhere (a login name that
# is a mobile number, a recipient): seven digits or more.
_NUMBER = re.compile(r"\+?\d[\d\s-]{5,}\d[Xx]?")


def identifiers_in(text: str | None, role: Role | None, whose: Whose) -> str:
    """TEXT with the phones, e-mails and identity numbers in it masked, unless ROLE reads
    WHOSE identifiers in full (an account named by its mobile number, an address)."""
    if not text or reads_in_full(role, whose):
        return text or ""
    masked = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _NUMBER.sub(lambda m: _mask_number(m.group(0)), masked)


def _mask_number(number: str) -> str:
    digits = re.sub(r"[\s-]", "", number)
    if len(digits) >= 15:  # an identity number: its region and check digits only
        return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]
    return mask_phone(digits)
