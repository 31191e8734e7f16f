"""A throwaway PostgreSQL cluster with TimescaleDB preloaded, on a free port, over TLS.

With ``tls`` (a server certificate of the local PKI) the cluster runs ``ssl = on``, refuses
TCP connections without TLS (``hostnossl … reject`` in pg_hba.conf) and its URLs carry
``sslmode=verify-full`` with the PKI's root, as production's do (SPEC §9).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from circulo.errors import ServiceUnavailable
from circulo.localstack.procs import as_user, chown_tree, is_root, open_path_for, port_open, run, wait_until

PG_USER = "postgres"
# TCP only with TLS; the Unix socket (initdb, pg_ctl) stays trusted
HBA = """\
local     all  all                trust
hostssl   all  all  127.0.0.1/32  trust
hostnossl all  all  127.0.0.1/32  reject
"""


@dataclass(frozen=True)
class ServerTls:
    """A server certificate (leaf, then chain), its key, and the root clients verify it with."""

    cert_file: Path
    key_file: Path
    root_file: Path


def pg_bindir() -> Path:
    """The newest PostgreSQL server binaries installed (Debian layout)."""
    override = os.environ.get("CIRCULO_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise ServiceUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql (run make setup)"
        )
    return candidates[-1].parent


def drop_statement(name: str) -> sql.Composed:
    """``DROP DATABASE IF EXISTS name WITH (FORCE)`` with the name quoted."""
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


@dataclass
class PostgresCluster:
    """A cluster in ``data_dir`` listening on 127.0.0.1:``port``.

    ``durable=False`` turns fsync off (tests: safe against process crashes, not OS crashes);
    the demo keeps it on. The TimescaleDB
    scheduler can be switched off (``background_workers=0``) so databases can be created
    from a template while it runs.
    """

    base_dir: Path
    port: int
    durable: bool = False
    background_workers: int = 0
    extra_settings: dict[str, str] = field(default_factory=dict)
    tls: ServerTls | None = None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def tls_dir(self) -> Path:
        """The server's copies of its certificate and key (owned by the server's user, key 0600)."""
        return self.base_dir / "tls"

    def url(self, dbname: str = "postgres", user: str = PG_USER) -> str:
        """A libpq URL for a database of this cluster (verify-full against the PKI's root with TLS)."""
        url = f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"
        if self.tls is None:
            return url
        return f"{url}?sslmode=verify-full&sslrootcert={self.tls.root_file}"

    def fresh_database(self, name: str, *, template: str | None = None, migrated: bool = False) -> str:
        """Drop ``name`` if it exists and create it anew (a copy of ``template``, or empty and,
        with ``migrated``, upgraded to the head migration); returns its URL.

        The one way tests, benchmarks and the demo make a database. A template must have no
        other session connected (the fixtures run TimescaleDB without background workers).
        """
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(drop_statement(name))
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(create)
        url = self.url(name)
        if migrated:
            from circulo.store import migrate  # noqa: PLC0415 - Alembic only when asked for

            migrate.upgrade(url)
        return url

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending its sessions; restarts the cluster first if a test stopped it."""
        if not self.running():
            self.start()
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(drop_statement(name))

    def _user(self) -> str | None:
        return PG_USER if is_root() else None

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        """initdb with trust auth on loopback, and Circulo's settings."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        open_path_for(self.base_dir)
        if is_root():
            chown_tree(self.base_dir, PG_USER)
        run(
            as_user(
                self._user(),
                [
                    str(pg_bindir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    PG_USER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
            ),
            what="initdb",
        )
        self.write_settings()

    def settings(self) -> dict[str, str]:
        values = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "shared_preload_libraries": "'timescaledb'",
            "timescaledb.max_background_workers": str(self.background_workers),
            "timescaledb.telemetry_level": "off",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "max_locks_per_transaction": "256",
            "fsync": "on" if self.durable else "off",
            # on even in tests: a commit must survive a kill -9 of the server (crash tests);
            # fsync off only risks data on an OS crash, which tests never simulate
            "synchronous_commit": "on",
            "full_page_writes": "on" if self.durable else "off",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        if self.background_workers:
            values["max_worker_processes"] = str(self.background_workers + 8)
        if self.tls is not None:
            values |= {
                "ssl": "on",
                "ssl_cert_file": f"'{self.tls_dir / 'server.crt'}'",
                "ssl_key_file": f"'{self.tls_dir / 'server.key'}'",
                "ssl_min_protocol_version": "'TLSv1.2'",
            }
        values.update(self.extra_settings)
        return values

    def write_tls(self) -> None:
        """Copy the certificate and key where the server reads them (PostgreSQL refuses a key
        another user could read) and allow TCP only over TLS."""
        if self.tls is None:
            return
        self.tls_dir.mkdir(mode=0o700, exist_ok=True)
        shutil.copyfile(self.tls.cert_file, self.tls_dir / "server.crt")
        key = self.tls_dir / "server.key"
        key.touch(mode=0o600)
        key.chmod(0o600)
        shutil.copyfile(self.tls.key_file, key)
        (self.data_dir / "pg_hba.conf").write_text(HBA, encoding="utf-8")
        if is_root():
            chown_tree(self.tls_dir, PG_USER)

    def write_settings(self) -> None:
        """(Re)write circulo.conf and include it from postgresql.conf (port changes included)."""
        conf = self.data_dir / "circulo.conf"
        conf.write_text("".join(f"{k} = {v}\n" for k, v in self.settings().items()), encoding="utf-8")
        self.write_tls()
        main = self.data_dir / "postgresql.conf"
        text = main.read_text(encoding="utf-8")
        if "include 'circulo.conf'" not in text:
            main.write_text(text + "\ninclude 'circulo.conf'\n", encoding="utf-8")
        if is_root():
            chown_tree(self.data_dir, PG_USER)

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it accepts connections."""
        if not self.initialised():
            self.init()
        else:
            self.write_settings()
        self.socket_dir.mkdir(exist_ok=True)
        if is_root():
            chown_tree(self.socket_dir, PG_USER)
            self.log_file.touch()
            chown_tree(self.log_file, PG_USER)
        run(
            as_user(
                self._user(),
                [
                    str(pg_bindir() / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ],
            ),
            what=f"PostgreSQL on port {self.port} (log {self.log_file})",
            timeout=timeout + 10,
        )
        wait_until(lambda: port_open(self.port), timeout=timeout, what=f"PostgreSQL on port {self.port}")

    def postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text(encoding="utf-8").splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return port_open(self.port)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` rolls back open transactions; ``immediate`` is a crash)."""
        if self.postmaster_pid() is None:
            return
        subprocess.run(
            as_user(
                self._user(),
                [str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            ),
            capture_output=True,
            check=False,
            timeout=60,
        )

    def kill(self) -> None:
        """SIGKILL the postmaster and its children: a crash, as a power cut would leave it."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = subprocess.run(
            [shutil.which("pgrep") or "/usr/bin/pgrep", "-P", str(pid)],
            capture_output=True,
            text=True,
            check=False,
        )
        for child in [pid, *(int(c) for c in children.stdout.split())]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        wait_until(lambda: not port_open(self.port), timeout=10, what="PostgreSQL to die")
        # the next start must see the stale pid file and recover from the WAL
        wait_until(lambda: not self._alive(pid), timeout=10, what="postmaster to exit")

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
