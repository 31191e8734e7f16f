"""A throwaway stack for benchmarks: durable TimescaleDB and Mosquitto with service accounts.

Like production (and the test fixtures) both run over TLS with a throwaway CA; the broker
also opens the migration window's plaintext listener, so a benchmark can compare the two
transports in the same run.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.pki import broker_tls, local_pki, postgres_tls
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.registry.dynsec import Acl, DynsecAdmin, ensure_service_account
from circulo.settings import MqttEndpoint

PUBLISHER_ACLS = (Acl("publishClientSend", "circulo/#"),)
NAIVE_ACLS = (Acl("subscribePattern", "circulo/#"), Acl("publishClientReceive", "circulo/#"))


@dataclass
class BenchStack:
    base: Path
    pg: PostgresCluster
    broker: MosquittoBroker
    passwords: dict[str, str]

    def mqtt_url(self, account: str, listener: str = "services") -> str:
        """An account's URL on the services' TLS listener (or ``plain``: the plaintext one)."""
        return self.broker.url(account, self.passwords[account], listener=listener)

    def fresh_database(self, name: str) -> str:
        return self.pg.fresh_database(name, migrated=True)

    def stop(self) -> None:
        self.broker.stop()
        self.pg.stop()


def start_stack() -> BenchStack:
    """Production settings where they matter: fsync and synchronous commit on."""
    base = Path(tempfile.mkdtemp(prefix="circulo-bench-"))
    pki = local_pki(base / "pki")
    pg = PostgresCluster(base / "pg", free_port(), durable=True, tls=postgres_tls(pki))
    pg.start()
    broker = MosquittoBroker(
        base / "mosquitto", free_port(), broker_tls(pki), admin_password=secrets.token_urlsafe(12),
        plain_port=free_port(),
    )  # fmt: skip
    broker.start()
    passwords = {name: secrets.token_urlsafe(12) for name in ("ingest", "publisher", "watcher")}
    with DynsecAdmin(
        MqttEndpoint.from_url(broker.url(broker.admin_username, broker.admin_password))
    ) as admin:
        ensure_service_account(admin, "ingest", passwords["ingest"], "circulo-ingest")
        admin.ensure_role("bench-publisher", PUBLISHER_ACLS)
        admin.ensure_client("publisher", passwords["publisher"], ["bench-publisher"])
        admin.ensure_role("bench-watcher", NAIVE_ACLS)
        admin.ensure_client("watcher", passwords["watcher"], ["bench-watcher", "circulo-ingest"])
    return BenchStack(base, pg, broker, passwords)
