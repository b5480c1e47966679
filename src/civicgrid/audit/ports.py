"""What the audit domain asks of the others: which records are a resident's own, so that she
sees who read them — the registry answers for the people records (by her identity number,
hashed as the registry hashes it, and her account's phone), the cases for the cases she
reported — and the names of the units that read them. Bootstrap wires them in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from sqlalchemy.orm import Session


class OwnRecords(Protocol):
    def records_of(
        self, session: Session, username: str, identity_number: str | None
    ) -> dict[str, list[int]]:
        """The record numbers, by record kind (core.ledger.RecordKind), that belong to the
        resident with account USERNAME, who gave IDENTITY_NUMBER (None: she gave none)."""
        ...


class NoOwnRecords:
    """Nobody's records (a platform wired without the registry and the cases)."""

    def records_of(
        self, session: Session, username: str, identity_number: str | None
    ) -> dict[str, list[int]]:
        return {}


class AccountRecords:
    """The records of KIND an account is the owner of whatever number she gives (the cases
    she reported), by FIND(session, username)."""

    def __init__(self, kind: str, find: Callable[[Session, str], list[int]]) -> None:
        self.kind = kind
        self.find = find

    def records_of(
        self, session: Session, username: str, identity_number: str | None
    ) -> dict[str, list[int]]:
        return {self.kind: self.find(session, username)}


class CombinedOwnRecords:
    """The records every source names, together."""

    def __init__(self, *sources: OwnRecords) -> None:
        self.sources = sources

    def records_of(
        self, session: Session, username: str, identity_number: str | None
    ) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for source in self.sources:
            for kind, ids in source.records_of(session, username, identity_number).items():
                found.setdefault(kind, []).extend(i for i in ids if i not in found[kind])
        return found


class UnitNames(Protocol):
    def __call__(self, session: Session, codes: Iterable[str]) -> dict[str, str]:
        """The names of the handling units with CODES (those it knows)."""
        ...


def no_unit_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    return {}
