"""API shapes for accounts."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from civicgrid.core.permissions import Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    username: str
    role: Role


class MeOut(BaseModel):
    username: str
    display_name: str
    role: Role | None
    area_code: str | None
    department_code: str | None


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=1, max_length=200)
    role: str
    display_name: str = ""
    area_code: str | None = None
    department_code: str | None = None
    phone: str = ""


class UserOut(BaseModel):
    username: str
    display_name: str
    role: Role
    area_code: str | None
    department_code: str | None


class AccountOut(BaseModel):
    username: str
    display_name: str
    role: Role
    area_code: str | None
    department_code: str | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    department_code: str | None = None
    expires_at: AwareDatetime | None = Field(
        default=None, description="From then on the key no longer works (none: never)"
    )


class ApiKeyOut(BaseModel):
    name: str
    department_code: str | None
    expires_at: datetime | None
    key: str = Field(description="Shown once; only a hash is stored")


class ApiKeyInfo(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first letters, to recognise it by")
    department_code: str | None
    department_name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    active: bool = Field(description="False once revoked")
    expired: bool


class ExpiryIn(BaseModel):
    expires_at: AwareDatetime | None = Field(description="None: the key never expires")
    reason: str = Field(default="", max_length=500)
