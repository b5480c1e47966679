import re

import pytest
from pydantic import ValidationError

from civicgrid.core.i18n import MESSAGES, pick_locale, translate
from civicgrid.core.settings import Settings


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="short")


def test_production_starts_with_a_private_secret() -> None:
    assert Settings(environment="production", secret_key="x" * 40).environment == "production"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICGRID_DATABASE_URL", "postgresql://db/x")
    assert Settings().database_url == "postgresql://db/x"


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_with_the_same_placeholders(key: str) -> None:
    forms = MESSAGES[key]
    assert forms["zh"] and forms["en"]
    placeholders = {lang: set(re.findall(r"{(\w+)}", text)) for lang, text in forms.items()}
    assert placeholders["zh"] == placeholders["en"]


def test_locale_comes_from_the_first_supported_language() -> None:
    assert pick_locale(None, "en-US,en;q=0.9") == "en"
    assert pick_locale("fr", "zh-CN") == "zh"
    assert pick_locale(None, None, default="en") == "en"


def test_unknown_message_keys_fall_back_to_the_key() -> None:
    assert translate("no_such_key", "en") == "no_such_key"
