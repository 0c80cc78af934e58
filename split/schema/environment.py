"""The body of every store's Alembic `env.py`: one definition, so that generated environments stay three lines.

Called by Alembic with its `context` proxy set up. Under `bunkatsu schema …` the configuration's
attributes carry the connection, the derived metadata and the template arguments; under the plain
`alembic` command the URL comes from `sqlalchemy.url` or the store's environment variable.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa

from split.db import normalise_url
from split.introspect import CANARY_TABLE, SCHEMA_TOOLKIT_TABLES, TOOLKIT_TABLES

VERSION_TABLE = "bunkatsu_schema_version"  # not alembic_version: a store may host its company's own Alembic project
STORE_ENV = {"nw": "BUNKATSU_NW_URL", "retail": "BUNKATSU_RETAIL_URL"}


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Compare every table of the store except Alembic's version tables (ledger and journal are part of the schema)
    and the canary record (planted into the NW store after the split; in the retail store `retail.tables` fails it)."""
    if type_ == "table" and name == CANARY_TABLE:
        return False
    return not (type_ == "table" and name in TOOLKIT_TABLES and name not in SCHEMA_TOOLKIT_TABLES)


def revision_directives(context: Any, revision: Any, directives: list) -> None:
    """No empty revision files; columns added to existing tables arrive nullable.

    A column added to a table that already holds rows has no values until the next copy fills it, and
    PostgreSQL refuses NOT NULL on it. So it is added nullable, `copy` accepts that looser state, and the
    next `schema revision` after the copy tightens it to NOT NULL (README, "Schema changes").
    """
    from alembic.operations import ops

    script = directives[0]
    if script.upgrade_ops.is_empty():
        directives[:] = []
        return
    for container in (script.upgrade_ops, script.downgrade_ops):
        for table_ops in container.ops:
            for op in getattr(table_ops, "ops", ()):
                if isinstance(op, ops.AddColumnOp) and not op.column.primary_key:
                    op.column.nullable = True


def configure_options(config: Any, dialect_name: str, store: str) -> dict:
    template_args = {  # a plain `alembic revision` has no mapping behind it: the revision says so
        "bunkatsu_store": store,
        "bunkatsu_mapping": "(none: written by hand)",
        "bunkatsu_mapping_sha256": "-",
        "bunkatsu_schema_digest": None,
        **config.attributes.get("template_args", {}),
    }
    return {
        "target_metadata": config.attributes.get("target_metadata"),
        "version_table": VERSION_TABLE,
        "compare_type": True,
        "include_name": include_name,
        "process_revision_directives": revision_directives,
        "template_args": template_args,
        "render_as_batch": dialect_name == "sqlite",  # SQLite alters tables by copying them: Alembic's batch mode
        "transaction_per_migration": True,
    }


def _url(config: Any, store: str) -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or os.environ.get(STORE_ENV[store])
    if not url:
        raise SystemExit(f"no URL for the {store} store: set {STORE_ENV[store]} or sqlalchemy.url in the ini section")
    return url


def run_migrations(store: str) -> None:
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        url = normalise_url(_url(config, store))
        context.configure(url=url, literal_binds=True, **configure_options(config, url.get_backend_name(), store))
        with context.begin_transaction():
            context.run_migrations()
        return
    if connection is not None:
        _run_online(context, connection, store)
        return
    engine = sa.create_engine(normalise_url(_url(config, store)), poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        _run_online(context, connection, store)


def _run_online(context: Any, connection: sa.Connection, store: str) -> None:
    context.configure(connection=connection, **configure_options(context.config, connection.dialect.name, store))
    with context.begin_transaction():
        context.run_migrations()
