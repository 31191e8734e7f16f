"""Fixtures: a throwaway TimescaleDB cluster and Mosquitto broker per test session.

Both run the project's own configuration on free ports, over TLS with the session's own
throwaway CA (SPEC §9: PostgreSQL with ``sslmode=verify-full``, the broker's device and
service listeners with ``mqtts://``), and can be killed and restarted from a test. Each
test gets a fresh database cloned from a migrated template. A test that cannot get a
service fails; nothing here skips.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.pki import broker_tls, local_pki, postgres_tls
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.pki.settings import PkiSettings
from circulo.registry.dynsec import Acl, DynsecAdmin, ensure_service_account
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint
from tests.support import IngestProcess


def pytest_configure(config: pytest.Config) -> None:
    """A base temp dir of this session's own: pytest's default rotation would delete the
    live cluster of another pytest session running at the same time on this machine."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="circulo-pytest-")
        config.stash[OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(OWN_BASETEMP, None)
    if own and getattr(config, "_circulo_passed", False):
        shutil.rmtree(own, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._circulo_passed = exitstatus == 0  # type: ignore[attr-defined]


OWN_BASETEMP = pytest.StashKey[str]()

settings.register_profile(
    "circulo", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], print_blob=True
)
settings.load_profile("circulo")

TEMPLATE_DB = "circulo_template"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

# Service accounts every broker in the tests has: (username, role).
SERVICE_ACCOUNTS = {
    "ingest": ("svc-ingest", "circulo-ingest"),
    "rewards": ("svc-rewards", "circulo-rewards"),
    "simulator": ("svc-simulator", "circulo-simulator"),
    "operator": ("svc-operator", "circulo-operator"),
    "tester": ("svc-tester", "circulo-tester"),
}
# Tests may publish anywhere under circulo/# (to play any device) and read it all back.
TESTER_ACLS = (
    Acl("publishClientSend", "circulo/#"),
    Acl("subscribePattern", "circulo/#"),
    Acl("publishClientReceive", "circulo/#"),
)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository (SPEC, reference data)."""
    assert SHARED_DIR.is_dir(), f"expected the shared folder at {SHARED_DIR}"
    return SHARED_DIR


@pytest.fixture(scope="session")
def local_pki_settings(tmp_path_factory: pytest.TempPathFactory) -> PkiSettings:
    """The session's throwaway PKI: the CA of every broker and of the database (server TLS only)."""
    return local_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def pg(
    tmp_path_factory: pytest.TempPathFactory, local_pki_settings: PkiSettings
) -> Iterator[PostgresCluster]:
    """The session's PostgreSQL + TimescaleDB cluster over TLS, with a migrated template database."""
    cluster = PostgresCluster(
        tmp_path_factory.mktemp("pg"), free_port(), tls=postgres_tls(local_pki_settings)
    )
    cluster.start()
    cluster.fresh_database(TEMPLATE_DB, migrated=True)
    yield cluster
    cluster.stop(mode="immediate")


@pytest.fixture
def db_url(pg: PostgresCluster) -> Iterator[str]:
    """A fresh database, migrated to head, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield pg.fresh_database(name, template=TEMPLATE_DB)
    pg.drop_database(name)  # restarts the cluster first if the test killed or stopped it


def service_passwords() -> dict[str, str]:
    return {name: secrets.token_urlsafe(12) for name in SERVICE_ACCOUNTS}


def start_broker(
    state_dir: Path, passwords: dict[str, str], pki: PkiSettings, *, plain: bool = False
) -> MosquittoBroker:
    """A broker from deploy/mosquitto/mosquitto.conf with the service accounts created
    (``plain``: with the migration window's plaintext listener open too)."""
    broker = MosquittoBroker(
        state_dir,
        free_port(),
        broker_tls(pki),
        admin_password=secrets.token_urlsafe(12),
        plain_port=free_port() if plain else None,
    )
    broker.start()
    with DynsecAdmin(
        MqttEndpoint.from_url(broker.url(broker.admin_username, broker.admin_password))
    ) as admin:
        admin.ensure_role("circulo-tester", TESTER_ACLS)
        for name, (username, role) in SERVICE_ACCOUNTS.items():
            if role == "circulo-tester":  # a test-only role, not one of the services'
                admin.ensure_client(username, passwords[name], [role])
            else:
                ensure_service_account(admin, username, passwords[name], role)
    return broker


class BrokerAccounts:
    """A broker plus the URLs of its service accounts, and the PKI its certificates come from."""

    def __init__(self, broker: MosquittoBroker, passwords: dict[str, str], pki: PkiSettings) -> None:
        self.broker = broker
        self.passwords = passwords
        self.pki = pki

    def url(self, account: str) -> str:
        username, _ = SERVICE_ACCOUNTS[account]
        return self.broker.url(username, self.passwords[account])

    @property
    def admin_url(self) -> str:
        return self.broker.url(self.broker.admin_username, self.broker.admin_password)

    def registry_settings(self, db_url: str, **extra: Any) -> RegistrySettings:
        """The registry on ``db_url`` and this broker, as production configures it: devices get the
        TLS device listener, the PKI revokes and the broker reloads (SIGHUP, then its log line)."""
        broker = self.broker
        values: dict[str, Any] = {
            "database_url": db_url,
            "mqtt_url": broker.url(),
            "broker_admin_url": self.admin_url,
            "device_broker_url": broker.url(listener="devices").split("?", 1)[0],
            "pki_dir": self.pki.pki_dir,
            "broker_pid_file": str(broker.pid_file),
            "broker_log_file": str(broker.log_file),
            "broker_config_file": str(broker.conf_file),
        }
        return RegistrySettings(**(values | extra))

    def registry_env(self, db_url: str, **extra: str) -> dict[str, str]:
        """The same settings as CIRCULO_* environment variables (for the command line)."""
        settings = self.registry_settings(db_url).model_dump(exclude_none=True)
        keys = ("database_url", "mqtt_url", "broker_admin_url", "device_broker_url", "pki_dir",
                "broker_pid_file", "broker_log_file", "broker_config_file")  # fmt: skip
        env = {f"CIRCULO_{key.upper()}": str(settings[key]) for key in keys}
        return env | {f"CIRCULO_{key.upper()}": value for key, value in extra.items()}


@pytest.fixture(scope="session")
def broker_accounts(
    tmp_path_factory: pytest.TempPathFactory, local_pki_settings: PkiSettings
) -> Iterator[BrokerAccounts]:
    passwords = service_passwords()
    broker = start_broker(tmp_path_factory.mktemp("mosquitto"), passwords, local_pki_settings)
    yield BrokerAccounts(broker, passwords, local_pki_settings)
    broker.stop()


@pytest.fixture(scope="session")
def broker(broker_accounts: BrokerAccounts) -> MosquittoBroker:
    """The session's broker (dynamic security on, anonymous off)."""
    if not broker_accounts.broker.running():  # a test restarted it and failed half-way
        broker_accounts.broker.start()
    return broker_accounts.broker


@pytest.fixture
def fresh_broker_accounts(tmp_path: Path, local_pki_settings: PkiSettings) -> Iterator[BrokerAccounts]:
    """A broker of the test's own, to stop, kill and restart."""
    passwords = service_passwords()
    broker = start_broker(tmp_path / "mosquitto", passwords, local_pki_settings)
    yield BrokerAccounts(broker, passwords, local_pki_settings)
    broker.kill()


@pytest.fixture
def mtls_broker_accounts(tmp_path: Path) -> Iterator[BrokerAccounts]:
    """A broker of the test's own with mutual TLS on, and its own PKI (mutual TLS is per broker):
    the device listener requires a client certificate of that PKI, not revoked."""
    pki = local_pki(tmp_path / "pki", mutual_tls=True)
    passwords = service_passwords()
    broker = start_broker(tmp_path / "mosquitto", passwords, pki)
    yield BrokerAccounts(broker, passwords, pki)
    broker.kill()


@pytest.fixture
def fresh_broker(fresh_broker_accounts: BrokerAccounts) -> MosquittoBroker:
    return fresh_broker_accounts.broker


@pytest.fixture
def ingest_url(broker: MosquittoBroker, broker_accounts: BrokerAccounts) -> str:
    """The ingest service account's URL on the session broker."""
    return broker_accounts.url("ingest")


@pytest.fixture
def service_mqtt_url(broker: MosquittoBroker, broker_accounts: BrokerAccounts) -> str:
    """A test account that may publish and subscribe anywhere under circulo/#."""
    return broker_accounts.url("tester")


@pytest.fixture
def admin_mqtt_url(broker: MosquittoBroker, broker_accounts: BrokerAccounts) -> str:
    """The broker's dynamic-security admin URL."""
    return broker_accounts.admin_url


@pytest.fixture
def ingest_factory(tmp_path: Path) -> Iterator[Callable[..., IngestProcess]]:
    """Start real ``circulo ingest`` processes; all are killed after the test."""
    started: list[IngestProcess] = []

    def start(
        db_url: str,
        mqtt_url: str,
        *,
        worker_id: str | None = None,
        args: Sequence[str] = (),
        ready: bool = True,
    ) -> IngestProcess:
        process = IngestProcess(
            db_url, mqtt_url, worker_id or f"ingest-{uuid.uuid4().hex[:8]}", tmp_path, list(args)
        )
        started.append(process.start())
        if ready:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()
        process.end_session()


@pytest.fixture
def ingest(db_url: str, ingest_url: str, ingest_factory: Callable[..., IngestProcess]) -> IngestProcess:
    """One real ingest worker on the test's database and the session broker."""
    return ingest_factory(db_url, ingest_url)
