"""The database side: a consistent dump with the ledger's state from the same snapshot, and its restore.

``pg_dump`` runs with ``--snapshot`` of a REPEATABLE READ transaction that Circulo holds
open, and the ledger's size, head, entry hashes, keys and checkpoints are read in that same
transaction, so the manifest describes exactly the dumped ledger. A restore goes into an
empty database only, in one transaction (``pg_restore --single-transaction``) between
TimescaleDB's ``timescaledb_pre_restore()`` and ``timescaledb_post_restore()``; a failure
leaves the database as empty as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from circulo.backup.errors import BackupError, RestoreRefused
from circulo.errors import ServiceUnavailable
from circulo.ledger import merkle
from circulo.localstack.postgres import pg_bindir
from circulo.store.db import connect, first_line, libpq_url

# Group roles the migrations grant to (0001, 0009); a fresh cluster may not have them yet.
GROUP_ROLES = ("circulo_ingest", "circulo_rewards", "circulo_registry", "circulo_reader",
               "circulo_operator", "circulo_monitor", "circulo_emqx")  # fmt: skip

SNAPSHOT_STATE = """
SELECT current_setting('server_version'),
       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
       (SELECT version_num FROM alembic_version LIMIT 1)
"""
ENTRY_HASHES = "SELECT hash FROM ledger_entry ORDER BY seq"
PUBLIC_KEYS = "SELECT key_id, public_key FROM ledger_signing_key ORDER BY key_id"
LATEST_CHECKPOINT = (
    "SELECT size, root, ts, key_id, sig FROM ledger_checkpoint ORDER BY checkpoint_id DESC LIMIT 1"
)
USER_RELATIONS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND n.nspname NOT LIKE '\\_timescaledb%%' AND n.nspname NOT LIKE 'timescaledb\\_%%'
"""
AVAILABLE_TIMESCALEDB = "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"


@dataclass(frozen=True)
class LedgerState:
    """The dumped ledger: size, head, Merkle root, keys, latest checkpoint (None: none yet)."""

    size: int
    head_hash: str
    root: str
    public_keys: dict[str, str]
    latest_checkpoint: dict[str, Any] | None


@dataclass(frozen=True)
class DumpInfo:
    """What the manifest says about the database."""

    server_version: str
    timescaledb_version: str | None
    revision: str | None
    ledger: LedgerState


def tool(name: str, bindir: Path | None) -> str:
    """The PostgreSQL client tool: from ``bindir``, else the newest Debian server's, else PATH."""
    for directory in (bindir, installed_bindir()):
        if directory is not None and (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install postgresql-client (deploy/setup/debian.sh) or set pg_bindir"
        )
    return found


def installed_bindir() -> Path | None:
    """The local server's binaries (the local stack's lookup), if a server is installed here."""
    try:
        return pg_bindir()
    except ServiceUnavailable:
        return None


def tool_environment(database_url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password (argv is visible to every user) and PGPASSWORD in the environment."""
    params = conninfo_to_dict(libpq_url(database_url))
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def run_tool(argv: list[str], env: dict[str, str], what: str) -> None:
    """Run a PostgreSQL tool; BackupError with its last lines when it fails."""
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=24 * 3600)
    except OSError as e:
        raise BackupError(f"{what}: {e}") from e
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if "warning" not in line.lower()]
        raise BackupError(f"{what} failed: {' | '.join(lines[-3:]) or f'exit {done.returncode}'}")


def read_ledger(conn: psycopg.Connection) -> tuple[LedgerState, list[bytes]]:
    """The ledger as this transaction sees it, and its entry hashes in seq order."""
    hashes = [bytes.fromhex(row[0]) for row in conn.execute(ENTRY_HASHES)]
    row = conn.execute(LATEST_CHECKPOINT).fetchone()
    checkpoint = dict(zip(("size", "root", "ts", "key_id", "sig"), row, strict=True)) if row else None
    head = conn.execute("SELECT hash FROM ledger_head").fetchone()
    return LedgerState(
        size=len(hashes),
        head_hash=str(head[0]) if head else "0" * 64,
        root=merkle.root_of_hashes([merkle.leaf_hash(h) for h in hashes]).hex(),
        public_keys={str(k): str(v) for k, v in conn.execute(PUBLIC_KEYS)},
        latest_checkpoint=checkpoint,
    ), hashes


@contextmanager
def exported_snapshot(database_url: str) -> Iterator[tuple[psycopg.Connection, str]]:
    """A REPEATABLE READ transaction and its exported snapshot id, held open while in use."""
    with connect(database_url, application_name="circulo-backup") as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None  # noqa: S101 - the function always returns one row
        yield conn, str(row[0])
        conn.execute("COMMIT")


def dump(database_url: str, out: Path, bindir: Path | None) -> tuple[DumpInfo, list[bytes]]:
    """``pg_dump -Fc`` of the database into ``out``; the manifest's view of it and the entry hashes."""
    conninfo, env = tool_environment(database_url)
    try:
        with exported_snapshot(database_url) as (conn, snapshot):
            version, tsdb, revision = conn.execute(SNAPSHOT_STATE).fetchone() or (None, None, None)
            ledger, hashes = read_ledger(conn)
            run_tool([tool("pg_dump", bindir), "--format=custom", f"--snapshot={snapshot}", "--no-password",
                      f"--file={out}", f"--dbname={conninfo}"], env, "pg_dump")  # fmt: skip
    except psycopg.Error as e:
        raise BackupError(f"database: {first_line(e)}") from e
    return DumpInfo(str(version), tsdb, revision, ledger), hashes


def check_target(database_url: str, timescaledb_version: str | None) -> None:
    """Refuse a database that holds anything, or whose TimescaleDB differs from the dump's."""
    try:
        with connect(database_url, application_name="circulo-restore") as conn:
            row = conn.execute(USER_RELATIONS).fetchone()
            available = conn.execute(AVAILABLE_TIMESCALEDB).fetchone()
    except psycopg.Error as e:
        raise BackupError(f"database: {first_line(e)}") from e
    if row and row[0]:
        raise RestoreRefused(
            f"the target database is not empty ({row[0]} relations): restore into a new, empty database"
        )
    if timescaledb_version and (available is None or available[0] != timescaledb_version):
        have = available[0] if available else "none"
        raise RestoreRefused(
            f"the dump needs TimescaleDB {timescaledb_version}; this server has {have}: install it first"
        )


def ensure_group_roles(conn: psycopg.Connection) -> None:
    """Create the group roles the dump grants to, where the cluster lacks them (roles are not dumped)."""
    for role in GROUP_ROLES:
        conn.execute(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )


def restore(database_url: str, dump_file: Path, bindir: Path | None) -> None:
    """Restore the dump into the (checked, empty) database in one transaction."""
    conninfo, env = tool_environment(database_url)
    try:
        with connect(database_url, autocommit=True, application_name="circulo-restore") as conn:
            ensure_group_roles(conn)
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
        try:
            argv = [tool("pg_restore", bindir), "--single-transaction", "--exit-on-error", "--no-owner",
                    "--no-password", f"--dbname={conninfo}", str(dump_file)]  # fmt: skip
            run_tool(argv, env, "pg_restore")
        finally:
            with connect(database_url, autocommit=True, application_name="circulo-restore") as conn:
                conn.execute("SELECT timescaledb_post_restore()")
    except psycopg.Error as e:
        raise BackupError(f"database: {first_line(e)}") from e
