"""Schema migrations of the catalog (Alembic)."""
