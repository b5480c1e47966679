import pytest
from pydantic import ValidationError

from civicgrid.core.settings import Settings


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="short")


def test_production_starts_with_a_private_secret() -> None:
    assert Settings(environment="production", secret_key="x" * 40).environment == "production"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICGRID_DATABASE_URL", "postgresql://db/x")
    assert Settings().database_url == "postgresql://db/x"


def test_the_city_time_zone_must_be_a_real_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().timezone == "Asia/Shanghai"
    monkeypatch.setenv("CIVICGRID_TIMEZONE", "Europe/Berlin")
    assert Settings().timezone == "Europe/Berlin"
    for wrong in ("Asia/Atlantis", "", "Asia", "../etc/passwd"):
        with pytest.raises(ValidationError, match="CIVICGRID_TIMEZONE"):
            Settings(timezone=wrong)
