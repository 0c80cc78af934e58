"""`bunkatsu evidence pack|check`: one archive of what a wave's sign-off needs, and its check (README "Evidence").

A pack is a zip file (it opens on every reviewer's machine):

    manifest.json            format, bunkatsu's version, the wave, the mapping's and plan's hashes, each
                             store's chain head, and the SHA-256 of every other file
    mapping/<file>           the mapping as reviewed
    plan/plan.json, plan.sql the plan it compiled to
    migrations/<store>/…     the Alembic revisions of each store
    reports/<wave>/<gate>/…  every gate's report folder the journal names (of the wave, or of all waves)
    included/<name>…         what `--include` adds: the access-log report, `grants --json`, a dry-run report
    stores/<store>/…         the chain's records, the journal and the ledger of each store, whole (a chain
                             is checked from its genesis), as JSON; range bounds as keyed hashes

`check` recomputes every file's SHA-256, walks each store's chain and compares the packed journal and ledger
with it, and with `--public-key` verifies the detached signature (`FILE.sig`, `ssh-keygen -Y sign`: the NW
company signs with a key it already manages — an agent, a hardware token — and anyone verifies it with
OpenSSH alone). Given the stores, it also shows their chains still hold the packed heads: a store whose
chain was rebuilt since is found. The first difference is named; nothing protected is in a pack.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

import split
from split import chain, journal
from split.db import engine_for
from split.errors import ConfigError
from split.i18n import N_, _
from split.plan import plan_sql
from split.prepare import Prepared

FORMAT = "bunkatsu-evidence/1"
MANIFEST = "manifest.json"
NAMESPACE = "bunkatsu-evidence"  # ssh-keygen -Y's namespace: a signature made for another purpose does not verify
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the files' own times are not evidence; the manifest says when


@dataclass
class PackResult:
    path: str
    wave: str | None
    files: int
    reports: list[str]
    chains: dict[str, dict]
    signature: str | None = None
    defects: list[str] = field(default_factory=list)  # a chain that is already broken: packed, and exit 1

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def pack(
    prep: Prepared,
    out: Path,
    *,
    wave: str | None = None,
    sign_key: Path | None = None,
    include: Sequence[Path] = (),
) -> PackResult:
    """Write the archive (refusing to overwrite one), then its signature when a key is given. `include` adds
    results no gate journals (the access-log report, `grants --json`): files or folders, under `included/`."""
    if out.exists():
        raise ConfigError(
            _("%(out)s exists: an evidence pack is never overwritten") % {"out": out}, hint=_("give a new --out path")
        )
    if not out.parent.is_dir():
        raise ConfigError(
            _("the folder of --out %(out)s does not exist") % {"out": out}, hint=_("create it or give another path")
        )
    if wave is not None and wave not in {w.name for w in prep.mapping.waves}:
        raise ConfigError(
            _("--wave %(wave)s is not a wave of the mapping") % {"wave": wave}, hint=_("see `bunkatsu cutover status`")
        )
    if sign_key is not None and not sign_key.is_file():
        raise ConfigError(
            _("--sign-key %(sign_key)s is not a file") % {"sign_key": sign_key},
            hint=_("give the private key ssh-keygen signs with"),
        )
    files = _plan_files(prep) | _included_files(include)
    chains, defects = {}, []
    for store, target in prep.stores.items():
        chains[store], defect, held = _store_files(store, target.url)
        files |= held
        if defect:
            defects.append(f"{store} store: {defect}")
    reports = _gate_reports(prep, wave)
    for folder in reports:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            files[f"reports/{_report_name(folder)}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    manifest = {
        "format": FORMAT,
        "bunkatsu": split.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "system": prep.mapping.system,
        "wave": wave,
        "mapping_sha256": prep.mapping.sha256,
        "plan_hash": prep.plan.hash,
        "stores": {store: {"url": target.masked, "chain": chains[store]} for store, target in prep.stores.items()},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    _write_zip(out, {MANIFEST: _json(manifest), **files})
    signature = _sign(out, sign_key) if sign_key else None
    return PackResult(str(out), wave, len(files) + 1, [str(r) for r in reports], chains, signature, defects)


def _included_files(paths: Sequence[Path]) -> dict[str, bytes]:
    """Each file or folder by its own name under `included/`; two of the same name, or one missing, exit 2."""
    files: dict[str, bytes] = {}
    names: set[str] = set()
    for path in paths:
        if not path.exists():
            raise ConfigError(
                _("--include %(path)s does not exist") % {"path": path},
                hint=_("give a report folder or a file, e.g. audit-log/ or grants.json"),
            )
        if path.name in names:
            raise ConfigError(
                _("--include names %(name)s twice") % {"name": path.name},
                hint=_("each included file or folder goes into the pack under its own name: rename one"),
            )
        names.add(path.name)
        if path.is_file():
            files[f"included/{path.name}"] = path.read_bytes()
            continue
        for found in sorted(p for p in path.rglob("*") if p.is_file()):
            files[f"included/{path.name}/{found.relative_to(path).as_posix()}"] = found.read_bytes()
    return files


def _plan_files(prep: Prepared) -> dict[str, bytes]:
    """The mapping as reviewed, the plan it compiled to (range bounds withheld: a natural key's bound is a
    customer's supply point id; the plan hash, over them, still names the plan) and each store's revisions."""
    mapping_path = Path(prep.plan.mapping_path)
    shown = prep.plan.to_dict()
    for table in shown["tables"]:
        for part in table["partitions"]:
            part.update({end: "withheld" for end in ("lo", "hi") if part[end] is not None})
    files = {
        f"mapping/{mapping_path.name}": mapping_path.read_bytes(),
        "plan/plan.json": _json(shown),
        "plan/plan.sql": (plan_sql(prep.plan, bounds=False) + "\n").encode("utf-8"),
    }
    for store in prep.stores:
        folder = prep.migrations / store
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            files[f"migrations/{store}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    return files


def _store_files(store: str, url: str) -> tuple[dict, str | None, dict[str, bytes]]:
    """A store's chain, journal and ledger as JSON (range bounds as keyed hashes), its head, and its first defect."""
    with engine_for(url).connect() as conn:
        if not chain.has_chain(conn):
            raise ConfigError(
                _("the %(store)s store has no evidence chain (written by an older bunkatsu)") % {"store": store},
                hint=_("run `bunkatsu schema revision --store %(store)s` and `schema upgrade`, then pack")
                % {"store": store},
            )
        records, rows = chain.records_and_rows(conn)
    found = chain.walk(records, rows)
    head, defect = {"records": found.records, "head": found.head}, found.defect
    files = {f"stores/{store}/chain.json": _json(records)}
    files |= {f"stores/{store}/{name}.json": _json([json.loads(r) for r in held]) for name, held in rows.items()}
    return head, defect, files


@dataclass
class CheckOutcome:
    path: str
    files: int = 0
    chains: dict[str, dict] = field(default_factory=dict)
    signature: str | None = None  # "verified" when a public key was given
    stores: dict[str, str] = field(default_factory=dict)  # store → "holds the packed head"
    difference: str | None = None  # the first difference found: exit 1

    @property
    def exit_code(self) -> int:
        return 1 if self.difference else 0

    def to_dict(self) -> dict:
        return {**self.__dict__, "intact": self.difference is None}


def check(path: Path, *, public_key: Path | None = None, stores: dict[str, str] | None = None) -> CheckOutcome:
    """Recompute everything the manifest says; stop at the first difference (exit 1 names it)."""
    outcome = CheckOutcome(str(path))
    contents = _read_zip(path)
    manifest = _manifest(path, contents)
    outcome.difference = (
        _manifest_difference(manifest)
        or _file_difference(manifest, contents)
        or _mapping_difference(manifest, contents)
    )
    outcome.files = len(contents)
    if outcome.difference is None:
        for store, packed in manifest["stores"].items():
            try:
                outcome.difference = _chain_difference(store, packed["chain"], contents)
            except (TypeError, ValueError, KeyError) as exc:  # a store's files are not as a pack writes them
                said = _("%(folder)s: not readable as a pack writes it (%(error)s)")
                outcome.difference = said % {"folder": f"stores/{store}/", "error": type(exc).__name__}
            outcome.chains[store] = packed["chain"]
            if outcome.difference:
                break
    if outcome.difference is None and public_key is not None:
        outcome.difference = _signature_difference(path, public_key)
        outcome.signature = None if outcome.difference else N_("verified")
    for store, url in (stores or {}).items():
        if outcome.difference is None:
            outcome.difference = _store_difference(store, url, manifest)
            outcome.stores[store] = _("holds the packed head")
    return outcome


def _gate_reports(prep: Prepared, wave: str | None) -> list[Path]:
    """The report folders of the gates the NW store's journal names (of `wave`, or of every wave), in order."""
    entries = journal.entries(engine_for(prep.stores["nw"].url), wave)
    folders = []
    for entry in entries:
        if not entry.report:
            continue
        named = Path(entry.report)  # the gate's index.html (or its folder)
        folder = named.parent if named.suffix == ".html" else named
        if not named.exists() or not folder.is_dir():
            raise ConfigError(
                _("the report %(named)s of wave %(wave)s step %(step)s (journal) is missing")
                % {"named": named, "wave": entry.wave, "step": entry.step},
                hint=_("run from the folder `cutover run` ran in, or put the reports back where the journal says"),
            )
        if folder not in folders:
            folders.append(folder)
    return folders


def _report_name(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"  # <wave>/<step>-<time>, as `cutover run` names them


def _json(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str) + "\n").encode("utf-8")


def _write_zip(out: Path, files: dict[str, bytes]) -> None:
    """Write beside the target, then move: a pack is whole or absent."""
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    partial.replace(out)


def _read_zip(path: Path) -> dict[str, bytes]:
    if not path.is_file():
        raise ConfigError(
            _("%(path)s is not a file") % {"path": path},
            hint=_("give the path of an evidence pack (`evidence pack --out`)"),
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise ConfigError(
            _("%(path)s is not a readable zip archive (%(exc)s)") % {"path": path, "exc": exc},
            hint=_("give an evidence pack"),
        ) from None


def _manifest(path: Path, contents: dict[str, bytes]) -> dict:
    try:
        manifest = json.loads(contents[MANIFEST].decode("utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(_("format %(format)s") % {"format": repr(manifest.get("format"))})
        return manifest
    except (KeyError, ValueError, AttributeError) as exc:
        raise ConfigError(
            _("%(path)s is not a bunkatsu evidence pack (%(manifest)s: %(exc)s)")
            % {"path": path, "manifest": MANIFEST, "exc": exc},
            hint=_("give an archive with a %(format)s manifest") % {"format": FORMAT},
        ) from None


def _manifest_difference(manifest: dict) -> str | None:
    """The manifest has the shape a pack writes (what the rest of the check reads from it)."""
    files, stores = manifest.get("files"), manifest.get("stores")
    shaped = (
        isinstance(files, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
        and isinstance(stores, dict)
        and all(
            isinstance(s, dict)
            and isinstance(s.get("chain"), dict)
            and isinstance(s["chain"].get("records"), int)
            and isinstance(s["chain"].get("head"), str)
            for s in stores.values()
        )
        and isinstance(manifest.get("mapping_sha256"), str)
    )
    said = _("%(manifest)s is not shaped as a pack writes it (files, stores, mapping_sha256)")
    return None if shaped else said % {"manifest": MANIFEST}


def _file_difference(manifest: dict, contents: dict[str, bytes]) -> str | None:
    listed: dict[str, str] = manifest.get("files", {})
    for name in sorted(listed.keys() | contents.keys() - {MANIFEST}):
        if name not in contents:
            return _("%(name)s is listed in %(manifest)s but missing from the archive") % {
                "name": name,
                "manifest": MANIFEST,
            }
        if name not in listed:
            return _("%(name)s is not in the manifest (added after packing)") % {"name": name}
        if hashlib.sha256(contents[name]).hexdigest() != listed[name]:
            return _("%(name)s differs from the manifest (SHA-256)") % {"name": name}
    return None


def _mapping_difference(manifest: dict, contents: dict[str, bytes]) -> str | None:
    mappings = [name for name in contents if name.startswith("mapping/")]
    if len(mappings) != 1 or hashlib.sha256(contents[mappings[0]]).hexdigest() != manifest.get("mapping_sha256"):
        return _("%(manifest)s: mapping_sha256 is not the SHA-256 of the packed mapping") % {"manifest": MANIFEST}
    return None


def _chain_difference(store: str, packed: dict, contents: dict[str, bytes]) -> str | None:
    prefix = f"stores/{store}/"
    records = json.loads(contents[prefix + "chain.json"])
    rows = {
        name: [chain.canonical_json(row) for row in json.loads(contents[f"{prefix}{name}.json"])]
        for name in chain.CHAINED
        if f"{prefix}{name}.json" in contents
    }
    found = chain.walk(records, rows)
    if found.defect:
        return f"{prefix}: {found.defect}"
    if (found.records, found.head) != (packed["records"], packed["head"]):
        said = _("%(file)s ends at record %(n)s, not at the manifest's head")
        return said % {"file": f"{prefix}chain.json", "n": found.records - 1}
    return None


def _store_difference(store: str, url: str, manifest: dict) -> str | None:
    """The store's chain must still hold the packed head at the same number: it may only have grown."""
    packed = manifest["stores"][store]["chain"]
    with engine_for(url).connect() as conn:
        if not chain.has_chain(conn):
            return _("the %(store)s store has no evidence chain") % {"store": store}
        held = conn.execute(
            sa.select(chain.chain.c.hash).where(chain.chain.c.seq == packed["records"] - 1)
        ).scalar_one_or_none()
        now = chain.examine(conn)
    if held != packed["head"]:
        said = _("the %(store)s store's chain no longer holds record %(n)s as packed (rewritten since)")
        return said % {"store": store, "n": packed["records"] - 1}
    if now.defect:
        return _("the %(store)s store: %(defect)s") % {"store": store, "defect": now.defect}
    return None


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError(_("signing needs ssh-keygen (OpenSSH 8 or later)"), hint=_("install openssh-client"))
    return found


def _sign(out: Path, key: Path) -> str:
    done = subprocess.run(
        [_ssh_keygen(), "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(out)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ConfigError(
            _("ssh-keygen could not sign %(out)s: %(detail)s") % {"out": out, "detail": done.stderr.strip()},
            hint=_("check --sign-key"),
        )
    return str(out) + ".sig"


def _signature_difference(path: Path, public_key: Path) -> str | None:
    signature = Path(str(path) + ".sig")
    if not signature.is_file():
        said = _("%(signature)s is missing: the pack was not signed, or the signature was not kept beside it")
        return said % {"signature": signature}
    if not public_key.is_file():
        raise ConfigError(
            _("--public-key %(public_key)s is not a file") % {"public_key": public_key},
            hint=_("give the signer's .pub key"),
        )
    with tempfile.TemporaryDirectory() as tmp:
        signers = Path(tmp) / "allowed_signers"
        signers.write_text(f"signer {public_key.read_text(encoding='utf-8').strip()}\n", encoding="utf-8")
        done = subprocess.run(
            [_ssh_keygen(), "-Y", "verify", "-f", str(signers), "-I", "signer", "-n", NAMESPACE, "-s", str(signature)],
            input=path.read_bytes(),
            capture_output=True,
        )
    if done.returncode != 0:
        said = _("%(signature)s does not verify with %(key)s: the archive or the signature changed, or another key")
        return said % {"signature": signature, "key": public_key}
    return None
