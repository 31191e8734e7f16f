"""Alembic environment: runs Circulo's migrations on the URL the caller passed in."""

from __future__ import annotations

from alembic import context

from circulo.store.db import create_engine

database_url = context.config.attributes["database_url"]
engine = create_engine(database_url)
with engine.connect() as connection:
    # one transaction per migration, so a failed step leaves the previous revision intact
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
