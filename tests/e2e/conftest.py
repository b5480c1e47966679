"""The demo city the browser tests share: built once a run, copied for each module's server
(tests/e2e/test_browser.py's `server`)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving import demo_passwords


@dataclass(frozen=True)
class DemoCity:
    database: Path
    passwords: dict[str, str]


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> DemoCity:
    """The full demo city (building it takes minutes), with the passwords it printed."""
    from tests.e2e.test_browser import require_browser

    require_browser()
    database = tmp_path_factory.mktemp("e2e-demo") / "city.db"
    env = {
        **os.environ,
        "CIVICGRID_DATABASE_URL": f"sqlite:///{database}",
        "CIVICGRID_ENVIRONMENT": "test",
    }
    demo = subprocess.run(
        [sys.executable, "-m", "civicgrid", "demo"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return DemoCity(database, demo_passwords(demo.stdout))
