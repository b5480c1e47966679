from datetime import timedelta

import pytest

from civicgrid.core.errors import NotAuthenticated
from civicgrid.core.security import (
    hash_password,
    issue_token,
    mask_name,
    mask_phone,
    read_token,
    verify_password,
)

SECRET = "s" * 40


def test_passwords_are_hashed_with_argon2_and_verified() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")


def test_a_token_names_its_user() -> None:
    token, _ = issue_token("alice", SECRET, timedelta(minutes=5))
    assert read_token(token, SECRET).username == "alice"


def test_an_expired_token_is_refused_as_expired() -> None:
    token, _ = issue_token("alice", SECRET, timedelta(seconds=-1))
    with pytest.raises(NotAuthenticated) as caught:
        read_token(token, SECRET)
    assert caught.value.message_key == "token_expired"


def test_a_token_signed_with_another_secret_is_invalid() -> None:
    token, _ = issue_token("alice", "x" * 40, timedelta(minutes=5))
    with pytest.raises(NotAuthenticated) as caught:
        read_token(token, SECRET)
    assert caught.value.message_key == "token_invalid"


def test_names_and_phones_are_masked() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("Alice Smith") == "A**** S****"
    assert mask_phone("13812345678") == "138****5678"
