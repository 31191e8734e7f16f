"""The demo's local stack: a TimescaleDB cluster and a Mosquitto broker under the state folder.

Both run over TLS with certificates of the folder's own throwaway PKI (``pki/``, created
on the first run), as production does (SPEC §9): devices on the broker's TLS listener,
services on its service listener, PostgreSQL with ``sslmode=verify-full``.

The cluster is reused when it is already running (a ``--keep`` run left it up); each run
gets a fresh ``circulo`` database. The broker keeps its configuration, clients and port,
but is (re)started with empty persistence, so no retained status or queued session of an
earlier day leaks into this one. ``stack.json`` records ports and the broker's pid, so a
later run can reuse the stack and ``circulo demo --down`` can stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from circulo.demo import queries
from circulo.demo.paths import DemoPaths
from circulo.demo.secrets import ADMIN, DemoSecrets
from circulo.errors import ServiceUnavailable
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.pki import broker_tls, local_pki, postgres_tls
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port, port_open, wait_until
from circulo.pki.service import mirror_everything
from circulo.pki.settings import PkiSettings
from circulo.store.db import connect

DATABASE = "circulo"
# TimescaleDB's job scheduler (policies); the demo never clones databases from a template.
BACKGROUND_WORKERS = 2
PERSISTENCE_FILE = "mosquitto.db"
# Login roles of the services, each a member of its SPEC §6 group role.
SERVICE_LOGINS = {"ingest": "circulo_demo_ingest", "rewards": "circulo_demo_rewards"}
GROUP_ROLES = {"ingest": "circulo_ingest", "rewards": "circulo_rewards"}


@dataclass(frozen=True)
class StackState:
    """What ``stack.json`` records."""

    postgres_port: int | None = None
    broker_port: int | None = None
    broker_pid: int | None = None
    broker_service_port: int | None = None


def read_state(path: Path) -> StackState:
    """The recorded stack, or an empty record."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StackState(
            data.get("postgres_port"),
            data.get("broker_port"),
            data.get("broker_pid"),
            data.get("broker_service_port"),
        )
    except (OSError, ValueError, AttributeError):
        return StackState()


def write_state(path: Path, state: StackState) -> None:
    path.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")


@dataclass
class DemoStack:
    """The running cluster and broker of a demo."""

    postgres: PostgresCluster
    broker: MosquittoBroker
    postgres_reused: bool
    pki: PkiSettings

    def database_url(self, user: str = "postgres") -> str:
        return self.postgres.url(DATABASE, user)

    def service_database_url(self, service: str) -> str:
        """The URL of a service's own login role (ingest, rewards)."""
        return self.database_url(SERVICE_LOGINS[service])

    def broker_url(self, username: str, password: str) -> str:
        """A service account's URL (the services' TLS listener)."""
        return self.broker.url(username, password)


def postgres_cluster(paths: DemoPaths, port: int, pki: PkiSettings) -> PostgresCluster:
    return PostgresCluster(
        paths.postgres_dir, port, durable=True, background_workers=BACKGROUND_WORKERS, tls=postgres_tls(pki)
    )


def start_stack(paths: DemoPaths, secrets: DemoSecrets) -> DemoStack:
    """Start (or reuse) the cluster and (re)start the broker; record them in ``stack.json``."""
    state = read_state(paths.stack_file)
    pki = local_pki(paths.pki_dir)
    postgres, reused = start_postgres(paths, state.postgres_port, pki)
    write_state(paths.stack_file, replace(state, postgres_port=postgres.port))
    broker = start_broker(paths, state, secrets, pki)
    write_state(paths.stack_file, StackState(postgres.port, broker.port, broker.pid, broker.service_port))
    return DemoStack(postgres, broker, reused, pki)


def start_postgres(paths: DemoPaths, port: int | None, pki: PkiSettings) -> tuple[PostgresCluster, bool]:
    """The demo cluster: reused when running on its recorded port, else started (initdb once)."""
    if port is not None:
        cluster = postgres_cluster(paths, port, pki)
        if cluster.running():
            return cluster, True
    chosen = port if port is not None and not port_open(port) else free_port()
    cluster = postgres_cluster(paths, chosen, pki)
    cluster.start()
    return cluster, False


def start_broker(
    paths: DemoPaths, state: StackState, secrets: DemoSecrets, pki: PkiSettings
) -> MosquittoBroker:
    """A broker with the project's config and empty persistence, on its recorded ports when free."""
    stop_recorded_broker(paths, state)
    broker_dir = paths.broker_dir
    with contextlib.suppress(FileNotFoundError):
        (broker_dir / PERSISTENCE_FILE).unlink()
    if secrets.created:  # new admin password: dynamic security is initialised again
        with contextlib.suppress(FileNotFoundError):
            (broker_dir / "dynamic-security.json").unlink()
    port, service_port = (_free_or(p) for p in (state.broker_port, state.broker_service_port))
    broker = MosquittoBroker(
        broker_dir, port, broker_tls(pki), admin_password=secrets.password(ADMIN), service_port=service_port
    )
    broker.start()
    return broker


def _free_or(port: int | None) -> int:
    """The recorded port when nothing listens on it, else a free one."""
    return port if port is not None and not port_open(port) else free_port()


def recorded_broker_pid(paths: DemoPaths, state: StackState) -> int | None:
    """The pid in ``stack.json`` when it is still this demo's Mosquitto."""
    pid = state.broker_pid
    if pid is None:
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    conf = str(paths.broker_dir / "mosquitto.conf")
    return pid if "mosquitto" in cmdline and conf in cmdline else None


def stop_recorded_broker(paths: DemoPaths, state: StackState) -> bool:
    """SIGTERM the broker a previous run left running (it saves its state and exits)."""
    pid = recorded_broker_pid(paths, state)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not _alive(pid), timeout=15, what=f"mosquitto (pid {pid}) to stop")
    except ServiceUnavailable:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def stop_stack(stack: DemoStack, paths: DemoPaths) -> None:
    """Stop the broker (gracefully) and the cluster (fast shutdown)."""
    stack.broker.stop()
    stack.postgres.stop()
    write_state(
        paths.stack_file, StackState(stack.postgres.port, stack.broker.port, None, stack.broker.service_port)
    )


def down(paths: DemoPaths) -> list[str]:
    """Stop whatever a previous run left running; what was stopped, in words."""
    state = read_state(paths.stack_file)
    stopped = []
    if stop_recorded_broker(paths, state):
        stopped.append(f"mosquitto on port {state.broker_port}")
    if state.postgres_port is not None:
        cluster = postgres_cluster(paths, state.postgres_port, local_pki(paths.pki_dir))
        if cluster.postmaster_pid() is not None:
            cluster.stop()
            stopped.append(f"PostgreSQL on port {state.postgres_port}")
    if paths.stack_file.exists():
        write_state(paths.stack_file, replace(state, broker_pid=None))
    return stopped


def fresh_database(stack: DemoStack) -> str:
    """Drop and create the ``circulo`` database, migrate it to head, add the service logins, and
    mirror the stack's PKI into it (certificate expiry for device check and the dashboards)."""
    url = stack.postgres.fresh_database(DATABASE, migrated=True)
    with connect(url, autocommit=True, application_name="circulo-demo") as conn:
        for service, login in SERVICE_LOGINS.items():
            conn.execute(queries.create_login(login))
            conn.execute(queries.grant_group(GROUP_ROLES[service], login))
    mirror_everything(stack.pki, url)
    return url
