"""Checks inside one store: which tables and columns exist, row scope, encoded columns, foreign keys."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, Status, could_not_prove, failed, passed, warned
from split.chain import CHAIN_TABLE, chain
from split.db import describe_db_error, engine_for
from split.encode import is_token
from split.i18n import N_, _
from split.journal import JOURNAL_TABLE, journal
from split.ledger import LEDGER_TABLE, ledger
from split.mapping.model import Follow, Own

SAMPLES = 5


# The toolkit's own tables, by the columns they have. A retail table that takes one of these names but not
# its shape is a place to hide values: it fails retail.tables (and is scanned like any other table).
VERSION_SHAPE = frozenset({"version_num"})
TOOLKIT_SHAPES = {
    LEDGER_TABLE: frozenset(ledger.c.keys()),
    JOURNAL_TABLE: frozenset(journal.c.keys()),
    CHAIN_TABLE: frozenset(chain.c.keys()),
    "bunkatsu_schema_version": VERSION_SHAPE,
    "alembic_version": VERSION_SHAPE,  # a store may host its company's own Alembic project
}
SYSTEM_SCHEMAS = {"information_schema", "pg_catalog"}
# What a retail object is, as findings name it (translated where shown).
OBJECT_KINDS = (N_("table"), N_("view"), N_("materialized view"), N_("foreign table"))


def store_objects(url: str) -> dict[str, str]:
    """Every relation a role of the store can read, by name → kind: tables, views, materialized views and
    foreign tables, in every schema (PostgreSQL: every non-system schema; outside the default one the name
    is `schema.name`)."""
    engine = engine_for(url)
    inspector = sa.inspect(engine)
    default = inspector.default_schema_name
    schemas = [default]
    if engine.dialect.name == "postgresql":
        others = [s for s in inspector.get_schema_names() if s not in SYSTEM_SCHEMAS and not s.startswith("pg_")]
        schemas += sorted(set(others) - {default})
    objects: dict[str, str] = {}
    for schema in schemas:
        prefix = "" if schema == default else f"{schema}."
        kinds = {"table": inspector.get_table_names(schema), "view": inspector.get_view_names(schema)}
        if engine.dialect.name == "postgresql":
            kinds["materialized view"] = inspector.get_materialized_view_names(schema)
            kinds["foreign table"] = inspector.get_foreign_table_names(schema)  # type: ignore[attr-defined]
        for kind, names in kinds.items():
            objects.update({prefix + name: kind for name in names})
    return objects


MARIADB_SYSTEM = {"information_schema", "performance_schema", "mysql", "sys"}
# information_schema names a grantee 'user'@'host'; CURRENT_USER() says user@host
_GRANTEE = (
    "CONCAT(\"'\", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), \"'@'\", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), \"'\")"
)


def other_databases(url: str) -> list[CheckResult]:
    """MariaDB/MySQL: a retail store is a database, and its user may reach others on the same server — a
    place the retail company could keep what it must not hold. Every other database the user has a privilege
    on is a finding. A user with global SELECT reads them all: the proof cannot tell which matter, so it says
    so (a warning) and covers the store's database only."""
    engine = engine_for(url)
    if engine.dialect.name != "mysql":
        return []
    with engine.connect() as conn:
        own = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
        everything = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES "
                f"WHERE GRANTEE = {_GRANTEE} AND PRIVILEGE_TYPE = 'SELECT'"
            )
        ).scalar_one()
        if everything:
            message = _(
                "the retail store's user can read every database on this server (global SELECT): the proof covers "
                "`%(own)s` only; give the retail company a user with privileges on its own database"
            ) % {"own": own}
            return [warned("retail.tables", "retail", message=message)]
        names = conn.execute(sa.text("SHOW DATABASES")).scalars().all()
    return [
        failed(
            "retail.tables",
            "retail",
            f"{name}.*",
            message=_("database `%(name)s` is reachable by the retail store's user: the retail side holds one database")
            % {"name": name},
        )
        for name in sorted(set(names) - MARIADB_SYSTEM - {own})
    ]


def _toolkit_shape_problem(url: str, name: str) -> str | None:
    have = {c["name"] for c in sa.inspect(engine_for(url)).get_columns(name)}
    wanted = TOOLKIT_SHAPES[name]
    if have == wanted:
        return None
    parts = []
    if have - wanted:
        parts.append(_("columns bunkatsu never makes: %(columns)s") % {"columns": ", ".join(sorted(have - wanted))})
    if wanted - have:
        parts.append(_("missing: %(columns)s") % {"columns": ", ".join(sorted(wanted - have))})
    return "; ".join(parts)


def retail_tables(ctx: VerifyContext) -> list[CheckResult]:
    """retail.tables: exactly the allowed tables, plus the toolkit's own in their exact shape. A retail store
    holds tables only: any view, materialized view or foreign table fails, whatever its name."""
    expected = set(ctx.allowed_retail)
    url = ctx.stores["retail"]
    found = store_objects(url)
    results = []
    for name, kind in sorted(found.items()):
        if kind != "table":
            message = _("%(kind)s `%(name)s` is not allowed in the retail store: it holds tables only") % {
                "kind": _(kind),
                "name": name,
            }
        elif name in TOOLKIT_SHAPES:
            problem = _toolkit_shape_problem(url, name)
            said = _("table `%(name)s` is named like a bunkatsu table but is not one (%(problem)s)")
            message = said % {"name": name, "problem": problem} if problem else ""
        elif name not in expected:
            message = _("%(kind)s `%(name)s` is not allowed in the retail store") % {"kind": _(kind), "name": name}
        else:
            continue
        if message:
            results.append(failed("retail.tables", "retail", name, message=message))
    found = {name: kind for name, kind in found.items() if kind == "table"}
    for name in sorted(expected - found.keys()):
        results.append(
            failed(
                "retail.tables",
                "retail",
                name,
                message=_("table `%(name)s` is missing from the retail store") % {"name": name},
            )
        )
    results += other_databases(url)
    if any(r.status is not Status.WARN for r in results):
        return results
    return [passed("retail.tables", "retail", observed=len(found), expected=len(expected) + 1), *results]


def retail_columns(ctx: VerifyContext) -> list[CheckResult]:
    """retail.columns: each table holds exactly the allowed columns, compared case-sensitively."""
    inspector = sa.inspect(engine_for(ctx.stores["retail"]))
    present = set(inspector.get_table_names())
    results = []
    for name, allowed in ctx.allowed_retail.items():
        if name not in present:
            continue  # reported by retail.tables
        have = [c["name"] for c in inspector.get_columns(name)]
        extra = [c for c in have if c not in allowed]
        missing = [c for c in allowed if c not in have]
        if extra or missing:
            parts = ([_("not allowed: %(columns)s") % {"columns": ", ".join(extra)}] if extra else []) + (
                [_("missing: %(columns)s") % {"columns": ", ".join(missing)}] if missing else []
            )
            results.append(
                failed(
                    "retail.columns",
                    "retail",
                    name,
                    column=(extra or missing)[0],
                    observed=len(have),
                    expected=len(allowed),
                    message="; ".join(parts),
                )
            )
        else:
            results.append(passed("retail.columns", "retail", name, observed=len(have), expected=len(allowed)))
    return results


def _reflect(ctx: VerifyContext, url: str, name: str) -> sa.Table:
    """A store's table as the store has it, reflected once per verify (its foreign keys' tables are not
    followed: the checks name every table they join). Four checks read the same tables."""
    key = (url, name)
    if key not in ctx.reflected:
        ctx.reflected[key] = sa.Table(name, sa.MetaData(), autoload_with=engine_for(url), resolve_fks=False)
    return ctx.reflected[key]


def _key_samples(ctx: VerifyContext, conn: sa.Connection, table: sa.Table, where: sa.ColumnElement) -> tuple[str, ...]:
    keys = list(table.primary_key.columns) or list(table.columns)[:1]
    rows = conn.execute(sa.select(*keys).where(where).limit(SAMPLES)).all()
    return tuple(ctx.keyed_hash("|".join(str(v) for v in row)) for row in rows)


def retail_row_scope(ctx: VerifyContext) -> list[CheckResult]:
    """retail.row_scope: `own` rows carry the affiliate's codes; `follow` rows have their parent in the store."""
    url = ctx.stores["retail"]
    results = []
    for table_plan, _store_plan in ctx.retail_tables():
        rule = ctx.mapping.table(table_plan.name)
        scope = rule.retail if rule else None
        if not isinstance(scope, Own | Follow):
            continue
        try:
            table = _reflect(ctx, url, table_plan.name)
            if isinstance(scope, Own):
                col = table.c[scope.column]
                outside = sa.or_(col.is_(None), col.not_in(ctx.mapping.affiliate.retailer_codes))
            else:
                parent = _reflect(ctx, url, scope.table).alias("parent")
                conditions = [parent.c[p] == table.c[c] for c, p in scope.on]
                parent_rule = ctx.mapping.table(scope.table)
                if scope.at and parent_rule is not None and parent_rule.period:
                    start, end = (parent.c[col] for col in parent_rule.period)
                    day = table.c[scope.at]
                    conditions += [start <= day, sa.or_(end.is_(None), day <= end)]
                outside = ~sa.exists(sa.select(sa.literal(1)).select_from(parent).where(*conditions))
            with engine_for(url).connect() as conn:
                count = conn.execute(sa.select(sa.func.count()).select_from(table).where(outside)).scalar_one()
                samples = _key_samples(ctx, conn, table, outside) if count else ()
        except (sa.exc.SQLAlchemyError, KeyError) as exc:
            results.append(could_not_prove("retail.row_scope", "retail", table_plan.name, _reason(exc)))
            continue
        what = _("outside `%(scope)s`") % {"scope": scope.describe()}
        if count:
            results.append(
                failed(
                    "retail.row_scope",
                    "retail",
                    table_plan.name,
                    observed=int(count),
                    expected=0,
                    message=_("%(n)s row(s) %(what)s") % {"n": count, "what": what},
                    samples=samples,
                )
            )
        else:
            results.append(passed("retail.row_scope", "retail", table_plan.name, observed=0, expected=0))
    return results


def retail_encoded(ctx: VerifyContext) -> list[CheckResult]:
    """retail.encoded: encoded columns hold only tokens (or NULL), never plaintext."""
    url = ctx.stores["retail"]
    results = []
    for table_plan, sp in ctx.retail_tables():
        for col in (c for c in sp.columns if c.transform == "encode"):
            try:
                table = _reflect(ctx, url, table_plan.name)
                bad = total = 0
                samples: list[str] = []
                with engine_for(url).connect() as conn:
                    stream = conn.execution_options(stream_results=True).execute(sa.select(table.c[col.name]))
                    for (value,) in stream:
                        total += 1
                        if value is not None and not is_token(value):
                            bad += 1
                            if len(samples) < SAMPLES:
                                samples.append(ctx.keyed_hash(value))
            except (sa.exc.SQLAlchemyError, KeyError) as exc:
                results.append(could_not_prove("retail.encoded", "retail", table_plan.name, _reason(exc)))
                continue
            if bad:
                results.append(
                    failed(
                        "retail.encoded",
                        "retail",
                        table_plan.name,
                        column=col.name,
                        observed=bad,
                        expected=0,
                        message=_("%(bad)s of %(total)s value(s) are not tokens") % {"bad": bad, "total": total},
                        samples=tuple(samples),
                    )
                )
            else:
                results.append(passed("retail.encoded", "retail", table_plan.name, column=col.name, observed=total))
    return results


def _foreign_keys(ctx: VerifyContext, store: str) -> Iterator[tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    """The source's foreign keys that can hold inside the store: both tables and all their columns there."""
    source = ctx.schema
    columns = {t.name: {c.name for c in sp.columns} for t, sp in ctx.store_tables(store)}
    for info in source.tables.values():
        for fk in info.foreign_keys:
            if (
                info.name in columns
                and fk.ref_table in columns
                and set(fk.columns) <= columns[info.name]
                and set(fk.ref_columns) <= columns[fk.ref_table]
            ):
                yield info.name, fk.columns, fk.ref_table, fk.ref_columns


def integrity_fk(ctx: VerifyContext) -> list[CheckResult]:
    """integrity.fk: no orphans in either store."""
    results = []
    for store, url in ctx.stores.items():
        for child_name, cols, parent_name, ref_cols in _foreign_keys(ctx, store):
            try:
                child, parent = _reflect(ctx, url, child_name), _reflect(ctx, url, parent_name).alias("parent")
                orphan = sa.and_(
                    *(child.c[c].is_not(None) for c in cols),
                    ~sa.exists(
                        sa.select(sa.literal(1))
                        .select_from(parent)
                        .where(*(parent.c[p] == child.c[c] for c, p in zip(cols, ref_cols, strict=True)))
                    ),
                )
                with engine_for(url).connect() as conn:
                    count = conn.execute(sa.select(sa.func.count()).select_from(child).where(orphan)).scalar_one()
                    samples = _key_samples(ctx, conn, child, orphan) if count else ()
            except (sa.exc.SQLAlchemyError, KeyError) as exc:
                results.append(could_not_prove("integrity.fk", store, child_name, _reason(exc)))
                continue
            label = f"{child_name}({', '.join(cols)}) → {parent_name}"
            if count:
                results.append(
                    failed(
                        "integrity.fk",
                        store,
                        child_name,
                        observed=int(count),
                        expected=0,
                        message=_("%(n)s orphan row(s) in %(label)s") % {"n": count, "label": label},
                        samples=samples,
                    )
                )
            else:
                results.append(passed("integrity.fk", store, child_name, observed=0, expected=0, message=label))
    return results


def _reason(exc: BaseException) -> str:

    if isinstance(exc, KeyError):
        return f"column {exc} is missing"
    return describe_db_error(exc)
