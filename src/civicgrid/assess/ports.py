"""What assessment needs from elsewhere, declared here and connected in bootstrap:

- Directory (core.outbox): the cadres of an area, to whom the monthly reports and the
  threshold alerts go (the accounts domain implements it);
- the engine that runs the indicators (DuckDB over a columnar snapshot beside the
  database by default; PostgreSQL's live fact table; Spark over Parquet files);
- the city's clock and time zone, the appeal window, the PDF font.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from civicgrid.assess.engines import DuckDBEngine, Engine, PostgresEngine, SparkEngine
from civicgrid.core.db import utcnow
from civicgrid.core.i18n import Locale
from civicgrid.core.outbox import Directory, NoDirectory

# Where fonts with Chinese glyphs usually are (Debian's fonts-noto-cjk first); the PDF
# embeds the subset it uses.
FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # the SC face
    ("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)


def find_font(configured: str = "") -> tuple[str, int] | None:
    """The font file (and face in a collection) PDFs are written in: CONFIGURED
    ("PATH" or "PATH#FACE") when given, else the first candidate found."""
    if configured:
        chosen, _, number = configured.partition("#")
        return (chosen, int(number or 0)) if Path(chosen).is_file() else None
    for path, face in FONT_CANDIDATES:
        if Path(path).is_file():
            return path, face
    return None


@dataclass
class AssessPorts:
    directory: Directory = field(default_factory=NoDirectory)
    clock: Callable[[], datetime] = utcnow
    timezone: str = "Asia/Shanghai"
    locale: Locale = "zh"
    database_url: str = ""
    # "duckdb" (a columnar snapshot in SNAPSHOT_DIR, kept up to date from the fact table),
    # "postgres" (the fact table itself; PostgreSQL only) or "spark" (Parquet in SPARK_PARQUET).
    engine: str = "duckdb"
    snapshot_dir: Path | None = None
    spark_parquet: str = ""
    # Days after a month is frozen during which its appeals are taken.
    appeal_days: int = 10
    pdf_font: str = ""
    _engines: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> DuckDBEngine:
        """The DuckDB snapshot of this database's facts (one file per database)."""
        with self._lock:
            found = self._engines.get("duckdb")
            if found is None:
                if self.snapshot_dir is None:
                    found = DuckDBEngine(None)
                else:
                    key = hashlib.sha256(self.database_url.encode()).hexdigest()[:16]
                    found = DuckDBEngine(self.snapshot_dir / f"facts-{key}.duckdb")
                self._engines["duckdb"] = found
            return found

    def engine_named(self, name: str | None = None) -> Engine:
        name = name or self.engine
        if name == "duckdb":
            return self.snapshot()
        with self._lock:
            found = self._engines.get(name)
            if found is None:
                if name == "postgres":
                    found = PostgresEngine(self.database_url)
                elif name == "spark":
                    found = SparkEngine(self.spark_parquet)
                else:
                    raise ValueError(name)
                self._engines[name] = found
            return found
