"""What the warnings need from elsewhere, declared here and implemented outside:

- StaffDirectory: who is responsible for an area (the cadres above a grid, its grid
  workers). The accounts domain implements it; bootstrap connects the two.
- NoticeSender: hands a notice to an SMS or e-mail gateway, as cases' Notifier does for
  answers to reporters (whose outbox belongs to a case and a reporter, not to staff). The
  platform ships a logging implementation; a city plugs in its gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from civicgrid.core.db import utcnow
from civicgrid.core.i18n import Locale
from civicgrid.core.permissions import Role
from civicgrid.insight.warnings.domain import Thresholds, WarningNotice

log = logging.getLogger("civicgrid.notify")


class StaffContact(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def phone(self) -> str: ...


class StaffDirectory(Protocol):
    def responsible_for(
        self, session: Session, area_path: str, roles: frozenset[Role]
    ) -> Sequence[StaffContact]:
        """Active accounts of ROLES bound to the area at AREA_PATH or to an area above it."""


class NobodyResponsible:
    """A directory that knows nobody (warnings are then only shown, not sent)."""

    def responsible_for(
        self, session: Session, area_path: str, roles: frozenset[Role]
    ) -> Sequence[StaffContact]:
        return []


class NoticeSender(Protocol):
    def send(self, notice: WarningNotice) -> None:
        """Deliver one notice or raise; unsent notices stay in the outbox for a retry."""


class LoggingNoticeSender:
    """Writes each notice to the log (the `civicgrid.notify` logger)."""

    def send(self, notice: WarningNotice) -> None:
        log.info(
            "to %s via %s (warning %s): %s",
            notice.recipient,
            notice.channel,
            notice.warning_id,
            notice.body,
        )


@dataclass
class WarningPorts:
    directory: StaffDirectory = field(default_factory=NobodyResponsible)
    sender: NoticeSender = field(default_factory=LoggingNoticeSender)
    thresholds: Thresholds = field(default_factory=Thresholds)
    locale: Locale = "zh"  # of the notices
    clock: Callable[[], datetime] = utcnow
