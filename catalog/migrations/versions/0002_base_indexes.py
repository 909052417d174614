"""Index the base family of local files and remote versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

``sdhub ls --base``, the TUI's base filter and the update check ("newer
versions for the same base") all filter on these columns.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_local_file_base"), "local_file", ["base"], unique=False)
    op.create_index(op.f("ix_remote_version_base"), "remote_version", ["base"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_remote_version_base"), table_name="remote_version")
    op.drop_index(op.f("ix_local_file_base"), table_name="local_file")
