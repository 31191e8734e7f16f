"""Transport security on the real broker and database (SPEC §9): TLS or nothing, verified or an error.

The session's broker and PostgreSQL run with certificates of the session's own CA. A client
that speaks plaintext to a TLS listener, trusts another CA, or asks for a name the broker's
certificate does not carry gets no connection and one clear error line, never a fallback.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from circulo.errors import ConfigError, ServiceUnavailable
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.pki import broker_tls, local_pki
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.mqttclient import check_broker, connect, new_client
from circulo.pki.authority import ServerNames
from circulo.settings import MqttEndpoint
from tests.conftest import BrokerAccounts
from tests.registry.mqtt_probe import Probe

# MQTT 3.1.1 CONNECT, clean session, keepalive 60, client id "plain"
PLAIN_CONNECT = bytes([0x10, 17, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 5]) + b"plain"


def plaintext_connack(port: int) -> bytes:
    """Send a plaintext CONNECT; what came back before the broker closed the socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(PLAIN_CONNECT)
        try:
            return sock.recv(16)
        except ConnectionResetError:
            return b""


@pytest.mark.parametrize("listener", ["devices", "services"])
def test_a_plaintext_connect_to_a_tls_listener_gets_no_connack(
    broker: MosquittoBroker, listener: str
) -> None:
    log_before = broker.log_file.stat().st_size
    assert plaintext_connack(broker.ports[listener]) == b""  # no CONNACK: the socket is closed
    with broker.log_file.open("rb") as log:
        log.seek(log_before)
        assert b"wrong version number" in log.read()  # OpenSSL saw MQTT where a TLS hello belongs


@pytest.fixture(scope="module")
def stranger_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of a CA nobody here uses."""
    return Path(local_pki(tmp_path_factory.mktemp("stranger")).layout().broker_anchor)


def test_a_client_trusting_another_ca_fails_the_handshake_and_says_so(
    broker_accounts: BrokerAccounts, stranger_ca: Path
) -> None:
    url = broker_accounts.url("tester").split("?")[0] + f"?cafile={stranger_ca}"
    endpoint = MqttEndpoint.from_url(url)
    with pytest.raises(ServiceUnavailable) as refused:
        connect(new_client(endpoint), endpoint)
    assert str(refused.value) == (
        f"broker 127.0.0.1:{endpoint.port}: TLS: the broker's certificate is not signed by the CA in "
        f"{stranger_ca} (unknown CA)"
    )


def test_the_cli_with_another_ca_is_one_error_line_and_tries_no_plaintext(
    broker_accounts: BrokerAccounts, stranger_ca: Path, db_url: str
) -> None:
    broker = broker_accounts.broker
    admin = broker_accounts.admin_url.split("?")[0] + f"?cafile={stranger_ca}"
    before = broker.log_file.stat().st_size
    done = subprocess.run(
        [sys.executable, "-m", "circulo", "service-account", "list"],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "CIRCULO_BROKER_ADMIN_URL": admin},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: broker 127.0.0.1:{broker.service_port}: TLS: the broker's certificate is not signed by "
        f"the CA in {stranger_ca} (unknown CA)"
    ]
    with broker.log_file.open("rb") as log:
        log.seek(before)
        assert b"New client connected" not in log.read()  # nothing got as far as an MQTT CONNECT


@pytest.fixture
def localhost_only_broker(tmp_path: Path) -> MosquittoBroker:
    """A broker whose certificate names only ``localhost`` (not 127.0.0.1)."""
    pki = local_pki(tmp_path / "pki", names=ServerNames(hosts=("localhost",)))
    broker = MosquittoBroker(tmp_path / "broker", free_port(), broker_tls(pki), admin_password="admin-pw")
    broker.start()
    yield broker
    broker.kill()


def test_a_host_name_the_certificate_does_not_carry_fails_verification(
    localhost_only_broker: MosquittoBroker,
) -> None:
    broker = localhost_only_broker
    wrong = MqttEndpoint.from_url(broker.url("circulo-admin", "admin-pw"))  # 127.0.0.1
    with pytest.raises(ServiceUnavailable, match=r"not valid for '127\.0\.0\.1' \(host name mismatch\)"):
        check_broker(wrong)
    right = MqttEndpoint.from_url(broker.url("circulo-admin", "admin-pw").replace("127.0.0.1", "localhost"))
    assert check_broker(right)


def test_the_ingest_given_another_ca_exits_with_one_error_line(
    db_url: str, broker_accounts: BrokerAccounts, stranger_ca: Path, tmp_path: Path
) -> None:
    url = broker_accounts.url("ingest").split("?")[0] + f"?cafile={stranger_ca}"
    done = subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", db_url, "--mqtt-url", url, "ingest",
         "--worker-id", f"t-{uuid.uuid4().hex[:8]}", "--metrics-port", "0"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3
    port = broker_accounts.broker.service_port
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last
        == f"error: broker 127.0.0.1:{port}: TLS: the broker's certificate is not signed by the CA in "
        + (f"{stranger_ca} (unknown CA)")
    )


def test_an_unreadable_cafile_is_a_setting_error_not_an_unverified_connection(
    broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    url = broker_accounts.url("tester").split("?")[0] + f"?cafile={tmp_path / 'missing.pem'}"
    endpoint = MqttEndpoint.from_url(url)
    with pytest.raises(ConfigError, match=r"mqtt_url: CA .*missing\.pem: cannot load it"):
        new_client(endpoint)


def test_devices_and_services_alike_only_get_in_over_tls_with_the_right_ca(broker: MosquittoBroker) -> None:
    with Probe.at(broker, None, None) as anonymous:
        assert anonymous.connect() is not None  # TLS handshake done, MQTT refused: not authorised
        assert not anonymous.connected.is_set()
    plain = ssl.create_default_context()  # the system's CAs do not know the session's CA
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", broker.port)) as s,
    ):
        plain.wrap_socket(s, server_hostname="127.0.0.1")


# --- PostgreSQL ---------------------------------------------------------------------------------
def test_postgresql_refuses_tcp_without_tls_and_the_services_connect_with_verify_full(
    pg: PostgresCluster, db_url: str
) -> None:
    plain = db_url.split("?", maxsplit=1)[0] + "?sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plain, connect_timeout=5)
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and row[1] in ("TLSv1.2", "TLSv1.3")
    assert "sslmode=verify-full" in db_url


def test_postgresql_verify_full_fails_with_another_ca_or_a_name_its_certificate_lacks(
    pg: PostgresCluster, db_url: str, stranger_ca: Path
) -> None:
    base = db_url.split("?", maxsplit=1)[0]
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(f"{base}?sslmode=verify-full&sslrootcert={stranger_ca}", connect_timeout=5)
    root = db_url.split("sslrootcert=")[1]
    by_name = base.replace("127.0.0.1", "localhost")  # in the certificate: works
    with psycopg.connect(f"{by_name}?sslmode=verify-full&sslrootcert={root}", connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # hostaddr connects to 127.0.0.1, host is the name verify-full checks
    wrong_name = base.replace("127.0.0.1", "db.invalid") + "?hostaddr=127.0.0.1&sslmode=verify-full"
    with pytest.raises(psycopg.OperationalError, match=r'does not match host name "db\.invalid"'):
        psycopg.connect(f"{wrong_name}&sslrootcert={root}", connect_timeout=5)


def s_client(port: int, cafile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(cafile), *args]
    return subprocess.run(argv, input="", capture_output=True, text=True, check=False, timeout=30)


def test_the_device_listener_speaks_tls_1_2_and_up_and_refuses_tls_1_1(broker: MosquittoBroker) -> None:
    for version in ("-tls1_2", "-tls1_3"):
        assert s_client(broker.port, broker.tls.cafile, version).returncode == 0, version
    # the client offers TLS 1.1 (allowed on its side by the security level); the broker says no
    refused = s_client(broker.port, broker.tls.cafile, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert refused.returncode != 0
    assert "alert protocol version" in refused.stderr  # the broker's alert, not the client's refusal
    # what small firmware stacks use for TLS 1.2 (Tasmota's BearSSL: docs/installers.md)
    for cipher in ("ECDHE-RSA-AES128-GCM-SHA256", "AES128-GCM-SHA256"):
        done = s_client(broker.port, broker.tls.cafile, "-tls1_2", "-cipher", cipher)
        assert f"Cipher is {cipher}" in done.stdout
