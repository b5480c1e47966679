"""Password hashing, access tokens, API keys and masking of personal data."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from civicgrid.core.db import utcnow
from civicgrid.core.errors import NotAuthenticated

_hasher = PasswordHasher()
TOKEN_ALGORITHM = "HS256"
API_KEY_PREFIX = "cg_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password(length: int = 14) -> str:
    # No look-alike characters: demo credentials are read off a console and typed by hand.
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class TokenClaims:
    username: str
    expires_at: datetime
    # The account's session generation when the token was issued: one the account has
    # since left behind (logged out everywhere, new password, disabled) is refused.
    generation: int = 0
    # This token's own id, so that logging out can end it alone ("" in tokens issued
    # before ids were given).
    token_id: str = ""


def issue_token(
    username: str, secret: str, ttl: timedelta, generation: int = 0
) -> tuple[str, datetime]:
    expires_at = utcnow() + ttl
    payload = {
        "sub": username,
        "exp": expires_at,
        "iat": utcnow(),
        "typ": "access",
        "gen": generation,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(payload, secret, algorithm=TOKEN_ALGORITHM), expires_at


def read_token(token: str, secret: str) -> TokenClaims:
    try:
        payload = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("token_expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("token_invalid") from exc
    if payload.get("typ") != "access" or not isinstance(payload.get("sub"), str):
        raise NotAuthenticated("token_invalid")
    generation = payload.get("gen", 0)  # tokens issued before generations were kept: 0
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise NotAuthenticated("token_invalid")
    token_id = payload.get("jti", "")
    if not isinstance(token_id, str):
        raise NotAuthenticated("token_invalid")
    expires_at = datetime.fromtimestamp(payload["exp"], UTC)
    return TokenClaims(payload["sub"], expires_at, generation, token_id)


def issue_pass(kind: str, claims: dict[str, Any], secret: str, ttl: timedelta) -> str:
    """A signed, expiring token that proves something other than a login (its `typ` is
    KIND, so it never passes for an access token, nor an access token for it)."""
    payload = {**claims, "exp": utcnow() + ttl, "typ": kind}
    return jwt.encode(payload, secret, algorithm=TOKEN_ALGORITHM)


def read_pass(kind: str, token: str, secret: str) -> dict[str, Any]:
    """The claims of a pass of KIND issued by issue_pass; 401 when forged or expired."""
    try:
        payload: dict[str, Any] = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("pass_expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("pass_invalid") from exc
    if payload.get("typ") != kind:
        raise NotAuthenticated("pass_invalid")
    return payload


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys are long random strings, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


def mask_name(name: str | None) -> str:
    """张三丰 → 张**; Alice Smith → A**** S****."""
    if not name:
        return ""
    if name.isascii():
        return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """13812345678 → 138****5678."""
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_email(email: str | None) -> str:
    """wang.li@example.com → w******@example.com."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return (local[:1] + "*" * max(len(local) - 1, 1)) + ("@" + domain if domain else "")
