"""Remember real by-hash answers: which SHA-256s a site knows, and when it was asked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

``sdhub enrich --all`` asks Civitai about each unlinked file once and then
leaves the files Civitai answered "unknown" alone for a while; look-ups that
failed for network reasons are never written here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_lookup",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("site", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("found", sa.Boolean, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_lookup")),
        sa.UniqueConstraint("site", "sha256", name=op.f("uq_remote_lookup_site_sha256")),
    )


def downgrade() -> None:
    op.drop_table("remote_lookup")
