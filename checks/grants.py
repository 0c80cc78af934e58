"""`grants`: no retail role can log in to or read the NW store, and nothing on the retail side reaches it.

The seeds' leaks after logical separation came through accounts, not tables: contractor accounts,
transferred staff, group roles nobody reviewed, `PUBLIC` defaults. So the check reads each server's
catalogue into one small model (grants, role memberships, superusers, login roles) and answers in
Python for every role the roles file names: which path (directly, through a role, through PUBLIC, as a
superuser) gives it which privilege on which object. PostgreSQL and MariaDB/MySQL; SQLite has no roles.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml

from checks.results import CheckOutcome, CheckResult, could_not_prove, failed, passed, verdict
from split.db import check_reachable, engine_for
from split.errors import ConfigError
from split.i18n import N_, _
from split.identity import require_separate
from split.settings import ENV_NW, ENV_RETAIL, store_url

PUBLIC = "PUBLIC"
READ = frozenset({"SELECT"})
WRITE = frozenset({"INSERT", "UPDATE", "DELETE", "TRUNCATE"})
ENV_ROLES = "BUNKATSU_ROLES"


# ── the roles file ──────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Roles:
    """Database roles and users of each company (`nw: [...]`, `retail: [...]`)."""

    nw: tuple[str, ...]
    retail: tuple[str, ...]
    path: str = ""


def roles_from(value: str | Path | None = None) -> Roles | None:
    """The roles file given as an option, else BUNKATSU_ROLES; None when there is none (no grants check)."""
    raw = value or os.environ.get(ENV_ROLES)
    return load_roles(raw) if raw else None


def load_roles(path: str | Path) -> Roles:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            _("roles file not found: %(file)s") % {"file": file},
            hint=_("pass --roles FILE (YAML with nw: and retail: lists)"),
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("roles file %(file)s is not valid YAML: %(detail)s") % {"file": file, "detail": str(exc).splitlines()[0]},
            hint=_("fix the YAML"),
        ) from None
    example = _("write `nw: [nw_owner, nw_loader]` and `retail: [retail_app, retail_staff]`")
    if not isinstance(data, dict) or set(data) != {"nw", "retail"}:
        raise ConfigError(
            _("roles file %(file)s must have exactly the keys nw and retail") % {"file": file}, hint=example
        )
    lists = {}
    for side in ("nw", "retail"):
        names = data[side] or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(
                _("roles file %(file)s: `%(side)s` must be a list of role names") % {"file": file, "side": side},
                hint=example,
            )
        lists[side] = tuple(names)
    both = sorted(set(lists["nw"]) & set(lists["retail"]))
    if both:
        raise ConfigError(
            _("roles file %(file)s: %(both)s listed for both companies") % {"file": file, "both": ", ".join(both)},
            hint=_("one account belongs to one company: that is the point of the split"),
        )
    if not lists["retail"]:
        raise ConfigError(_("roles file %(file)s: no retail role listed") % {"file": file}, hint=example)
    return Roles(lists["nw"], lists["retail"], str(file))


# ── the catalogue model and the paths through it ────────────────────────────────────────────


@dataclass
class Catalogue:
    """One server's view of one database: who holds which privilege on which object."""

    grants: list[tuple[str, str, str]] = field(default_factory=list)  # grantee, object, privilege
    member_of: dict[str, set[str]] = field(default_factory=dict)  # role → roles granted to it
    superusers: set[str] = field(default_factory=set)
    can_login: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)  # every role/user the server knows
    bridges: list[str] = field(default_factory=list)  # ways out of this database (FDW, dblink, FEDERATED)

    def paths(self, role: str) -> dict[str, str]:
        """Every grantee whose privileges `role` can use, with how: the role itself, its roles, PUBLIC."""
        found = {role: _("directly"), PUBLIC: _("through PUBLIC")}
        queue = deque([role])
        while queue:
            for group in sorted(self.member_of.get(queue.popleft(), ())):
                if group not in found:
                    found[group] = _("through role %(role)s") % {"role": group}
                    queue.append(group)
        return found

    def access(self, role: str, privileges: frozenset[str]) -> list[tuple[str, str, str]]:
        """(object, privilege, via) for each privilege in `privileges` that `role` holds on any object."""
        paths = self.paths(role)
        supers = [g for g in paths if g in self.superusers]
        if supers:
            how = _("as superuser") if supers[0] == role else _("through superuser %(role)s") % {"role": supers[0]}
            return [("every object", "ALL", how)]
        found: dict[tuple[str, str], str] = {}
        for grantee, obj, privilege in self.grants:
            if grantee in paths and privilege in privileges:
                found.setdefault((obj, privilege), paths[grantee])
        return sorted((obj, privilege, via) for (obj, privilege), via in found.items())


def _closure_roles(rows: list[tuple[str, str]]) -> dict[str, set[str]]:
    member_of: dict[str, set[str]] = {}
    for member, group in rows:
        member_of.setdefault(member, set()).add(group)
    return member_of


# ── PostgreSQL ──────────────────────────────────────────────────────────────────────────────

_PG_RELATIONS = """
    SELECT CASE WHEN n.nspname = current_schema() THEN c.relname ELSE n.nspname || '.' || c.relname END,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
         aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
    WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
    UNION ALL
    SELECT CASE WHEN n.nspname = current_schema() THEN c.relname ELSE n.nspname || '.' || c.relname END
           || '.' || att.attname,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type
    FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
         aclexplode(att.attacl) a
    WHERE att.attacl IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema')"""
_PG_DATABASE = """
    SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type
    FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
    WHERE d.datname = current_database()"""
_PG_DEFAULTS = """
    SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type
    FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE d.defaclobjtype = 'r'"""


def _pg_catalogue(conn: sa.Connection, nw_database: str | None) -> Catalogue:
    cat = Catalogue()
    q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
    cat.grants += [(grantee, f"table {obj}", priv) for obj, grantee, priv in q(_PG_RELATIONS)]
    cat.grants += [(grantee, "the database", "CONNECT") for grantee, priv in q(_PG_DATABASE) if priv == "CONNECT"]
    cat.grants += [(grantee, "tables created later (default privileges)", priv) for grantee, priv in q(_PG_DEFAULTS)]
    # owners hold every privilege on what they own, whatever the ACL says
    owned = "SELECT relname, pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    owned += "WHERE c.relkind IN ('r','v','m','p','f') AND n.nspname = current_schema()"
    cat.grants += [(owner, f"table {t}", p) for t, owner in q(owned) for p in READ | WRITE]
    cat.member_of = _closure_roles(
        [(m, g) for m, g in q("SELECT pg_get_userbyid(member), pg_get_userbyid(roleid) FROM pg_auth_members")]
    )
    for name, superuser, login in q("SELECT rolname, rolsuper, rolcanlogin FROM pg_roles"):
        cat.roles.add(name)
        if superuser or name == "pg_read_all_data":  # PG 14+: reads every table
            cat.superusers.add(name)
        if login:
            cat.can_login.add(name)
    if nw_database is not None:  # this is the retail store: any way out to the NW database
        for server, fdw, options in q(
            "SELECT s.srvname, w.fdwname, coalesce(array_to_string(s.srvoptions, ' '), '') "
            "FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw"
        ):
            target = dict(o.split("=", 1) for o in options.split() if "=" in o).get("dbname")
            if target in (None, nw_database):
                said = _("foreign server %(server)s (%(fdw)s) reaches database %(target)s")
                cat.bridges.append(said % {"server": server, "fdw": fdw, "target": target or _("(login name)")})
        for (ext,) in q("SELECT extname FROM pg_extension WHERE extname IN ('dblink')"):
            said = _("extension %(ext)s is installed: any role allowed to call it can open the NW store")
            cat.bridges.append(said % {"ext": ext})
    return cat


# ── MariaDB / MySQL ─────────────────────────────────────────────────────────────────────────


def _account(grantee: str) -> str:
    """`'user'@'host'` → user: the roles file names users, on any host."""
    m = re.match(r"'((?:[^']|'')*)'@'", grantee)
    return m.group(1).replace("''", "'") if m else grantee


def _schema_pattern(pattern: str) -> re.Pattern[str]:
    """A MariaDB database name pattern in a grant (`nw\\_%`) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
            continue
        out += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.compile(out, re.DOTALL)


def _mysql_catalogue(conn: sa.Connection, database: str, nw_database: str | None) -> Catalogue:
    cat = Catalogue()
    q = lambda sql, **kw: conn.execute(sa.text(sql), kw).all()  # noqa: E731
    for grantee, priv in q("SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES"):
        if priv != "USAGE":
            cat.grants += [
                (_account(grantee), "every database (*.*)", priv),
                (_account(grantee), "the database", "CONNECT"),
            ]
    for grantee, schema, priv in q(
        "SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
    ):
        if _schema_pattern(schema).fullmatch(database):
            cat.grants += [
                (_account(grantee), f"all tables ({schema}.*)", priv),
                (_account(grantee), "the database", "CONNECT"),
            ]
    for grantee, table, priv in q(
        "SELECT GRANTEE, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = :db",
        db=database,
    ):
        cat.grants += [(_account(grantee), f"table {table}", priv), (_account(grantee), "the database", "CONNECT")]
    for grantee, table, column, priv in q(
        "SELECT GRANTEE, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES "
        "WHERE TABLE_SCHEMA = :db",
        db=database,
    ):
        cat.grants += [
            (_account(grantee), f"table {table}.{column}", priv),
            (_account(grantee), "the database", "CONNECT"),
        ]
    cat.member_of = _closure_roles([(u, r) for u, r in q("SELECT User, Role FROM mysql.roles_mapping")])
    accounts = q("SELECT User, is_role FROM mysql.user")
    cat.roles = {u for u, _ in accounts}
    cat.can_login = {u for u, is_role in accounts if is_role == "N"}
    if nw_database is not None:
        for table, engine in q(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db "
            "AND ENGINE IN ('FEDERATED', 'CONNECT')",
            db=database,
        ):
            said = _("table %(table)s uses the %(engine)s engine: it reads another database")
            cat.bridges.append(said % {"table": table, "engine": engine})
        for server, db in q("SELECT Server_name, Db FROM mysql.servers"):
            if db in ("", nw_database):
                said = _("server %(server)s (CREATE SERVER) reaches database %(target)s")
                cat.bridges.append(said % {"server": server, "target": db or _("(any)")})
    return cat


def catalogue(url: str, nw_database: str | None = None) -> Catalogue:
    """The catalogue of the database at `url`; with `nw_database`, also the bridges out of it towards that one."""
    engine = engine_for(url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return _pg_catalogue(conn, nw_database)
        return _mysql_catalogue(conn, str(engine.url.database), nw_database)


# ── the check ───────────────────────────────────────────────────────────────────────────────


def _fail(store: str, message: str, table: str | None = None) -> CheckResult:
    return failed("grants", store, table, observed=1, expected=0, message=message)


def _table_of(obj: str) -> str | None:
    return obj.removeprefix("table ").split(".")[0] if obj.startswith("table ") else None


def _object_said(obj: str) -> str:
    """A catalogue object (named in English inside the model: `_table_of` reads it) in the reader's language."""
    if obj.startswith("table "):
        return _("table %(name)s") % {"name": obj.removeprefix("table ")}
    if obj.startswith("all tables ("):
        return _("all tables (%(schema)s.*)") % {"schema": obj.removeprefix("all tables (").removesuffix(".*)")}
    fixed = {
        "the database": N_("the database"),
        "every database (*.*)": N_("every database (*.*)"),
        "tables created later (default privileges)": N_("tables created later (default privileges)"),
        "every object": N_("every object"),
    }
    return _(fixed[obj]) if obj in fixed else obj


def grants(stores: dict[str, str], roles: Roles, post_split: bool) -> list[CheckResult]:
    """Findings as failed results, one per role and object; a single pass when there are none."""
    if any(engine_for(url).dialect.name == "sqlite" for url in stores.values()):
        reason = _(
            "SQLite has no database roles (file permissions decide); grants are proven on PostgreSQL and MariaDB"
        )
        return [could_not_prove("grants", "nw", None, reason)]
    nw_db = str(engine_for(stores["nw"]).url.database)
    try:
        nw, retail = catalogue(stores["nw"]), catalogue(stores["retail"], nw_database=nw_db)
    except sa.exc.SQLAlchemyError as exc:  # e.g. no right to read mysql.user: seeing only our own grants proves nothing
        said = _("the catalogue could not be read (%(error)s); the account needs to read all grants")
        reason = said % {"error": type(getattr(exc, "orig", None) or exc).__name__}
        return [could_not_prove("grants", "nw", None, reason)]
    known = nw.roles | retail.roles
    results = [  # a misspelt name would leave the real role unchecked: never a silent pass
        _fail(
            "nw",
            _("listed %(side)s role %(role)s exists on neither server; correct the roles file")
            % {"side": side, "role": role},
        )
        for side, names in (("retail", roles.retail), ("nw", roles.nw))
        for role in names
        if role not in known
    ]
    for role in roles.retail:
        for obj, privilege, via in nw.access(role, READ | {"CONNECT", "ALL"}):
            if privilege == "CONNECT" and role not in nw.can_login:
                continue  # a role that cannot log in cannot use CONNECT itself (its members are listed too)
            said = (
                _("retail role %(role)s can connect to %(object)s of the NW store %(via)s")
                if privilege == "CONNECT"
                else _("retail role %(role)s can read %(object)s of the NW store %(via)s")
                if privilege != "ALL"
                else _("retail role %(role)s can do anything in %(object)s of the NW store %(via)s")
            )
            said %= {"role": role, "object": _object_said(obj), "via": via}
            results.append(_fail("nw", said, _table_of(obj)))
    results += [_fail("retail", _("the retail store reaches out: %(bridge)s") % {"bridge": b}) for b in retail.bridges]
    writers = [
        (role, obj, privilege, via) for role in roles.nw for obj, privilege, via in retail.access(role, WRITE | {"ALL"})
    ]
    if writers and post_split:  # during the waves the NW loader writes retail legitimately; after, nobody from NW may
        said = _("NW role %(role)s can %(privilege)s %(object)s of the retail store %(via)s")
        results += [
            _fail("retail", said % {"role": r, "privilege": p, "object": _object_said(o), "via": v}, _table_of(o))
            for r, o, p, v in writers
        ]
    if not results:
        note = ""
        if writers:
            names = sorted({w[0] for w in writers})
            said = _("NW role(s) %(roles)s can write the retail store (the loader: revoke after the last wave)")
            note = "; " + said % {"roles": ", ".join(names)}
        results.append(
            passed(
                "grants",
                "nw",
                observed=0,
                expected=0,
                message=_(
                    "no retail role (%(n)s listed) can log in to or read the NW store; "
                    "nothing on the retail side reaches it"
                )
                % {"n": len(roles.retail)}
                + note,
            )
        )
    return results


@dataclass
class GrantsResult(CheckOutcome):
    verdict: str
    stores: dict[str, str]
    roles: str
    checks: list[CheckResult]
    seconds: float
    report: str | None = None

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "stores": self.stores,
            "roles": self.roles,
            "summary": self.summary(),
            "seconds": round(self.seconds, 2),
            "checks": [c.to_dict() for c in self.checks],
        }


def run_grants(nw: str | None, retail: str | None, roles: str | Path | None, post_split: bool) -> GrantsResult:
    """`bunkatsu grants`: the check alone, on two reachable, separate stores."""
    started = time.monotonic()
    role_list = roles_from(roles)
    if role_list is None:
        raise ConfigError(
            _("no roles file given"), hint=_("pass --roles FILE or set BUNKATSU_ROLES (nw: and retail: lists)")
        )
    targets = {"nw": store_url("nw", nw, ENV_NW), "retail": store_url("retail", retail, ENV_RETAIL)}
    for target in targets.values():
        check_reachable(target.url, target.role)
    require_separate(targets.values())
    results = grants({r: t.url for r, t in targets.items()}, role_list, post_split)
    stores = {r: t.masked for r, t in targets.items()}
    return GrantsResult(verdict(results).value, stores, role_list.path, results, time.monotonic() - started)
