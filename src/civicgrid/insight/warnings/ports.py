"""What the warnings need from elsewhere, declared here and implemented outside:

- Directory (core.outbox): who is responsible for an area (the cadres above a grid, its
  grid workers). The accounts domain implements it; bootstrap connects the two. The
  notices go into the platform's one outbox, which delivers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from civicgrid.core.db import utcnow
from civicgrid.core.i18n import Locale
from civicgrid.core.outbox import Directory, NoDirectory
from civicgrid.insight.warnings.domain import Thresholds


@dataclass
class WarningPorts:
    directory: Directory = field(default_factory=NoDirectory)
    thresholds: Thresholds = field(default_factory=Thresholds)
    locale: Locale = "zh"  # of the notices
    clock: Callable[[], datetime] = utcnow
    # The city's time zone: a scan's day, and the days cases are counted on, are its days.
    timezone: str = "Asia/Shanghai"
