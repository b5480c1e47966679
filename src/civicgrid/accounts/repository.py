"""Tables for users and API keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, func, select
from sqlalchemy.orm import Session

from civicgrid.accounts.domain import ApiKey, User
from civicgrid.areas.repository import areas
from civicgrid.core.db import UtcDateTime, enum_column_type, mapper_registry, metadata
from civicgrid.core.permissions import Role

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(120), nullable=False, default=""),
    Column("password_hash", String(200), nullable=False),
    Column("role", enum_column_type(Role, 24), nullable=False, index=True),
    Column("area_code", String(32), ForeignKey("areas.code"), nullable=True, index=True),
    Column("department_code", String(64), ForeignKey("departments.code"), nullable=True),
    Column("phone", String(40), nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
    Column("session_generation", Integer, nullable=False, default=0, server_default="0"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("department_code", String(64), ForeignKey("departments.code"), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=True),
)

mapper_registry.map_imperatively(User, users)
mapper_registry.map_imperatively(ApiKey, api_keys)


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, username: str) -> User | None:
        return self.session.execute(select(User).where(users.c.username == username)).scalar()

    def add(self, user: User) -> None:
        self.session.add(user)

    def add_all(self, items: Iterable[User]) -> None:
        self.session.add_all(list(items))

    def in_areas(self, area_codes: Sequence[str], role: Role | None = None) -> Sequence[User]:
        stmt = select(User).where(users.c.area_code.in_(list(area_codes))).order_by(users.c.id)
        if role is not None:
            stmt = stmt.where(users.c.role == role)
        return self.session.execute(stmt).scalars().all()

    def count_within(self, path: str, role: Role | None = None) -> int:
        stmt = (
            select(func.count())
            .select_from(users.join(areas, areas.c.code == users.c.area_code))
            .where(areas.c.path.startswith(path, autoescape=True))
        )
        if role is not None:
            stmt = stmt.where(users.c.role == role)
        return int(self.session.execute(stmt).scalar_one())

    def of_department(self, department_code: str) -> Sequence[User]:
        stmt = select(User).where(users.c.department_code == department_code)
        return self.session.execute(stmt.order_by(users.c.username)).scalars().all()

    def list(self) -> Sequence[User]:
        return self.session.execute(select(User).order_by(users.c.username)).scalars().all()

    def search(self, q: str = "", *, within: str | None = None, limit: int = 200) -> Sequence[User]:
        """Accounts whose username or name contains Q (all without), by username; WITHIN: only
        those bound to an area under that path."""
        stmt = select(User).order_by(users.c.username).limit(limit)
        if q:
            stmt = stmt.where(
                users.c.username.contains(q, autoescape=True)
                | users.c.display_name.contains(q, autoescape=True)
            )
        if within is not None:
            inside = select(areas.c.code).where(areas.c.path.startswith(within, autoescape=True))
            stmt = stmt.where(users.c.area_code.in_(inside))
        return self.session.execute(stmt).scalars().all()


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_hash(self, key_hash: str) -> ApiKey | None:
        return self.session.execute(select(ApiKey).where(api_keys.c.key_hash == key_hash)).scalar()

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    def get(self, key_id: int) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def list(self) -> Sequence[ApiKey]:
        stmt = select(ApiKey).order_by(api_keys.c.id.desc())
        return self.session.execute(stmt).scalars().all()
