"""The production TLS set-up, checked offline (no Docker, no Grafana here): compose, the broker's
config, TimescaleDB's scripts and Grafana's data source all say TLS, verified."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from circulo.registry.brokerlog import listeners

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
MOSQUITTO_CONF = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
# the postgres image's pg_hba.conf as initdb and its entrypoint leave it
IMAGE_HBA = """\
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust

host all all all scram-sha-256
"""


def environment_urls(prefix: str) -> list[tuple[str, str]]:
    """(service, value) of every environment value starting with ``prefix``."""
    found = []
    for name, service in SERVICES.items():
        for value in (service.get("environment") or {}).values():
            if isinstance(value, str) and value.startswith(prefix):
                found.append((name, value))
    return found


def test_every_service_reaches_postgresql_with_verify_full_against_the_pki_root() -> None:
    urls = environment_urls("postgresql://")
    assert {name for name, _ in urls} == {"migrate", "ingest", "rewards", "monitor", "cli", "pki-renew"}
    for name, url in urls:
        assert url.endswith("?sslmode=verify-full&sslrootcert=/circulo/pki/ca.pem"), name


def test_every_service_reaches_the_broker_over_tls_on_the_service_listener() -> None:
    assert environment_urls("mqtt://") == []
    for name, url in environment_urls("mqtts://"):
        if name == "cli" and "MQTT_PUBLIC_HOST" in url:
            continue  # the address written into device bundles: the device listener
        assert "@mosquitto:8884?cafile=/circulo/pki/broker-ca.pem" in url, name


def test_only_the_device_tls_port_is_published_and_the_pki_is_mounted_read_only() -> None:
    mosquitto = SERVICES["mosquitto"]
    assert mosquitto["ports"] == ["${MQTT_TLS_PORT:-8883}:8883"]
    for name in ("mosquitto", "timescaledb", "ingest", "rewards", "monitor", "grafana", "migrate"):
        assert "pki:/circulo/pki:ro" in SERVICES[name]["volumes"], name
    for writer in ("cli", "pki-renew"):  # the ones that write it
        assert "pki:/circulo/pki" in SERVICES[writer]["volumes"]
    assert "pki renew" in " ".join(SERVICES["pki-renew"]["command"])


def test_the_broker_config_has_a_tls_device_listener_a_tls_service_listener_and_no_open_plaintext() -> None:
    found = listeners(MOSQUITTO_CONF)
    assert set(found) == {8883, 8884}, "the plaintext migration listener is commented out"
    assert found[8883].tls and found[8884].tls
    assert not found[8884].certificate_required
    device_block = MOSQUITTO_CONF.split("listener 8883", 1)[1].split("listener 8884", 1)[0]
    for line in ("tls_version tlsv1.2", "crlfile /mosquitto/certs/crl.pem", "require_certificate false",
                 "use_identity_as_username false", "cafile /mosquitto/certs/clients-ca.pem"):  # fmt: skip
        assert re.search(rf"^{re.escape(line)}$", device_block, re.MULTILINE), line
    assert re.search(r"^#MIGRATION# listener 1883 0\.0\.0\.0$", MOSQUITTO_CONF, re.MULTILINE)


def test_grafanas_data_source_verifies_the_database_against_the_pki_root() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning" / "datasources" / "circulo.yaml"
    source = yaml.safe_load(provisioning.read_text(encoding="utf-8"))["datasources"][0]
    assert source["jsonData"]["sslmode"] == "${GRAFANA_DB_SSLMODE}"
    assert source["jsonData"]["tlsConfigurationMethod"] == "file-path"
    assert source["jsonData"]["sslRootCertFile"] == "${GRAFANA_DB_ROOT_CERT}"
    environment = SERVICES["grafana"]["environment"]
    assert environment["GRAFANA_DB_SSLMODE"] == "${GRAFANA_DB_SSLMODE:-verify-full}"
    assert environment["GRAFANA_DB_ROOT_CERT"] == "/circulo/pki/ca.pem"
    assert "GRAFANA_DB_SSLMODE=verify-full" in (DEPLOY / ".env.example").read_text(encoding="utf-8")


def test_timescaledb_runs_with_ssl_on_and_its_init_script_refuses_tcp_without_tls(tmp_path: Path) -> None:
    command = " ".join(SERVICES["timescaledb"]["command"])
    for setting in ("ssl=on", "ssl_cert_file=/var/lib/postgresql/tls/server.crt",
                    "ssl_min_protocol_version=TLSv1.2"):  # fmt: skip
        assert setting in command
    (tmp_path / "pg_hba.conf").write_text(IMAGE_HBA)
    script = DEPLOY / "timescaledb" / "20-circulo-tls-only.sh"
    env = {"PATH": os.environ["PATH"], "PGDATA": str(tmp_path)}
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
    rules = [line.split() for line in (tmp_path / "pg_hba.conf").read_text().splitlines() if line.strip()]
    assert rules[-2:] == [
        ["hostssl", "all", "all", "all", "scram-sha-256"],
        ["hostnossl", "all", "all", "all", "reject"],
    ]
    assert ["host", "all", "all", "all", "scram-sha-256"] not in rules


def test_timescaledbs_entrypoint_installs_the_pki_certificate_privately_or_refuses(tmp_path: Path) -> None:
    pki, tls, bin_dir = tmp_path / "pki", tmp_path / "tls", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-entrypoint.sh").write_text('#!/bin/sh\necho "started $*"\n')
    (bin_dir / "docker-entrypoint.sh").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CIRCULO_PKI_MOUNT": str(pki),
        "POSTGRES_TLS_DIR": str(tls),
    }
    script = str(DEPLOY / "timescaledb" / "tls-entrypoint.sh")
    refused = subprocess.run(["sh", script, "postgres"], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "circulo pki server issue postgres" in refused.stderr
    (pki / "servers" / "postgres").mkdir(parents=True)
    (pki / "servers" / "postgres" / "cert.pem").write_text("cert")
    (pki / "servers" / "postgres" / "key.pem").write_text("key")
    argv = ["sh", script, "postgres", "-c", "ssl=on"]
    started = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert started.stdout.strip() == "started postgres -c ssl=on", started.stderr
    assert (tls / "server.key").stat().st_mode & 0o777 == 0o600
    assert (tls / "server.crt").read_text() == "cert"
