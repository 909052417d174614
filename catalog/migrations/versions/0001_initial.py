"""The first catalog schema: local files, remote models/versions/files, trigger words,
weights, previews, render results.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out by hand with frozen column types (plain VARCHAR/JSON/TIMESTAMP): a
migration must keep producing the same schema whatever the application's
column types become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def _col(name: str, type_: sa.types.TypeEngine | type, nullable: bool = True) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable)


def _hashes() -> list[sa.Column]:
    return [
        _col("sha256", sa.String(64)),
        _col("autov1", sa.String(8)),
        _col("autov2", sa.String(10)),
        _col("autov3", sa.String(12)),
        _col("crc32", sa.String(8)),
        _col("blake3", sa.String(64)),
    ]


def _owner(table: str, file_ondelete: str = "CASCADE") -> list[sa.SchemaItem]:
    """version_id / file_id: exactly one of them is set."""
    return [
        _col("version_id", sa.Integer),
        _col("file_id", sa.Integer),
        sa.CheckConstraint(
            "(version_id IS NULL) <> (file_id IS NULL)", name=op.f(f"ck_{table}_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["remote_version.id"],
            name=op.f(f"fk_{table}_version_id_remote_version"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["local_file.id"],
            name=op.f(f"fk_{table}_file_id_local_file"),
            ondelete=file_ondelete,
        ),
    ]


def _index(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "remote_model",
        _col("id", sa.Integer, False),
        _col("site", sa.String(16), False),
        _col("remote_id", sa.String, False),
        _col("name", sa.String),
        _col("type", sa.String),
        _col("creator", sa.String),
        _col("tags", _json(), False),
        _col("nsfw", sa.Boolean),
        _col("nsfw_level", sa.Integer),
        _col("poi", sa.Boolean),
        _col("minor", sa.Boolean),
        _col("availability", sa.String),
        _col("mode", sa.String),
        _col("allow_no_credit", sa.Boolean),
        _col("allow_commercial_use", _json(), False),
        _col("allow_derivatives", sa.Boolean),
        _col("allow_different_license", sa.Boolean),
        _col("license", sa.String),
        _col("description", sa.Text),
        _col("url", sa.String),
        _col("origin", sa.String(24), False),
        _col("raw", _json(), False),
        _col("fetched_at", _ts(), False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_model")),
        sa.UniqueConstraint("site", "remote_id", name=op.f("uq_remote_model_site_remote_id")),
    )

    op.create_table(
        "remote_version",
        _col("id", sa.Integer, False),
        _col("model_id", sa.Integer),
        _col("site", sa.String(16), False),
        _col("remote_id", sa.String, False),
        _col("name", sa.String),
        _col("base_model", sa.String),
        _col("base_model_type", sa.String),
        _col("base", sa.String(16)),
        _col("status", sa.String),
        _col("availability", sa.String),
        _col("nsfw_level", sa.Integer),
        _col("description", sa.Text),
        _col("position", sa.Integer),
        _col("air", sa.String),
        _col("url", sa.String),
        _col("download_url", sa.String),
        _col("published_at", _ts()),
        _col("updated_at", _ts()),
        _col("early_access_ends_at", _ts()),
        _col("origin", sa.String(24), False),
        _col("raw", _json(), False),
        _col("fetched_at", _ts(), False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["remote_model.id"],
            name=op.f("fk_remote_version_model_id_remote_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_version")),
        sa.UniqueConstraint("site", "remote_id", name=op.f("uq_remote_version_site_remote_id")),
    )
    _index("remote_version", "model_id")

    op.create_table(
        "remote_file",
        _col("id", sa.Integer, False),
        _col("version_id", sa.Integer),
        _col("remote_id", sa.String),
        _col("name", sa.String),
        _col("type", sa.String),
        _col("size", sa.BigInteger),
        _col("fp", sa.String),
        _col("size_type", sa.String),
        _col("format", sa.String),
        _col("primary", sa.Boolean),
        *_hashes(),
        _col("pickle_scan", sa.String),
        _col("virus_scan", sa.String),
        _col("download_url", sa.String),
        _col("raw", _json(), False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["remote_version.id"],
            name=op.f("fk_remote_file_version_id_remote_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_file")),
    )
    _index("remote_file", "autov3", "sha256", "version_id")

    op.create_table(
        "local_file",
        _col("id", sa.Integer, False),
        _col("path", sa.Text, False),
        _col("name", sa.String, False),
        _col("size", sa.BigInteger, False),
        _col("mtime_ns", sa.BigInteger, False),
        _col("inode", sa.BigInteger, False),
        *_hashes(),
        _col("kind", sa.String(16), False),
        _col("base", sa.String(16), False),
        _col("component", sa.String(24)),
        _col("format", sa.String(16), False),
        _col("details", _json(), False),
        _col("warnings", _json(), False),
        _col("error", sa.Text),
        _col("safety", sa.String(16), False),
        _col("safety_globals", _json(), False),
        _col("safety_reason", sa.Text),
        _col("description", sa.Text),
        _col("notes", sa.Text),
        _col("negative_text", sa.Text),
        _col("negative", sa.Boolean),
        _col("remote_version_id", sa.Integer),
        _col("remote_file_id", sa.Integer),
        _col("link_source", sa.String(16)),
        _col("sidecars", _json(), False),
        _col("first_seen", _ts(), False),
        _col("last_seen", _ts(), False),
        _col("missing", sa.Boolean, False),
        sa.ForeignKeyConstraint(
            ["remote_file_id"],
            ["remote_file.id"],
            name=op.f("fk_local_file_remote_file_id_remote_file"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["remote_version_id"],
            ["remote_version.id"],
            name=op.f("fk_local_file_remote_version_id_remote_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_local_file")),
        sa.UniqueConstraint("path", name=op.f("uq_local_file_path")),
    )
    _index(
        "local_file",
        "autov2",
        "autov3",
        "kind",
        "missing",
        "name",
        "remote_file_id",
        "remote_version_id",
        "sha256",
    )

    op.create_table(
        "trigger_word",
        _col("id", sa.Integer, False),
        *_owner("trigger_word"),
        _col("source", sa.String(16), False),
        _col("origin", sa.String),
        _col("position", sa.Integer, False),
        _col("word", sa.Text, False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_word")),
    )
    _index("trigger_word", "file_id", "version_id")

    op.create_table(
        "weight",
        _col("id", sa.Integer, False),
        *_owner("weight"),
        _col("source", sa.String(16), False),
        _col("origin", sa.String),
        _col("default", sa.Float, False),
        _col("min", sa.Float),
        _col("max", sa.Float),
        _col("updated_at", _ts(), False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weight")),
    )
    _index("weight", "file_id", "version_id")

    op.create_table(
        "preview",
        _col("id", sa.Integer, False),
        *_owner("preview"),
        _col("source", sa.String(16), False),
        _col("position", sa.Integer, False),
        _col("url", sa.String),
        _col("local_path", sa.Text),
        _col("media_type", sa.String),
        _col("size", sa.BigInteger),
        _col("width", sa.Integer),
        _col("height", sa.Integer),
        _col("nsfw_level", sa.Integer),
        _col("params", _json(), False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview")),
    )
    _index("preview", "file_id", "version_id")

    op.create_table(
        "render_result",
        _col("id", sa.Integer, False),
        _col("file_id", sa.Integer),
        _col("base_file_id", sa.Integer),
        _col("base_name", sa.String),
        _col("base_path", sa.Text),
        _col("verdict", sa.String, False),
        _col("grid_path", sa.Text),
        _col("images", sa.Integer, False),
        _col("seconds", sa.Float),
        _col("message", sa.Text),
        _col("params", _json(), False),
        _col("created", _ts(), False),
        sa.ForeignKeyConstraint(
            ["base_file_id"],
            ["local_file.id"],
            name=op.f("fk_render_result_base_file_id_local_file"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["local_file.id"],
            name=op.f("fk_render_result_file_id_local_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_result")),
    )
    _index("render_result", "file_id")


def downgrade() -> None:
    for table in (
        "render_result",
        "preview",
        "weight",
        "trigger_word",
        "local_file",
        "remote_file",
        "remote_version",
        "remote_model",
    ):
        op.drop_table(table)
