"""Alembic environment: runs on the connection that `flames.store.db.migrate` hands over."""

from alembic import context

import flames.annotate.schema
import flames.design.schema  # noqa: F401  (the annotation and prompt design tables join Base.metadata)
from flames.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
