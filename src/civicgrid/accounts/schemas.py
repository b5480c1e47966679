"""API shapes for accounts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

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


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    department_code: str | None = None


class ApiKeyOut(BaseModel):
    name: str
    department_code: str | None
    key: str = Field(description="Shown once; only a hash is stored")
