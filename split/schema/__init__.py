"""Target schemas. Today: tables created from the plan; Alembic revisions replace `create` later."""
