"""Column types that behave the same on SQLite and PostgreSQL.

Enums are stored as their string values (readable in any SQL shell, no
PostgreSQL ``CREATE TYPE`` to migrate), JSON as JSONB on PostgreSQL, times as
timezone-aware UTC everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: JSON documents (details, raw API answers): JSONB on PostgreSQL.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class EnumText(sa.types.TypeDecorator[StrEnum]):
    """A :class:`StrEnum` stored as its value in a VARCHAR column."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 32) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)

    @property
    def python_type(self) -> type:
        return self.enum


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes (SQLite hands back naive ones: they are UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
