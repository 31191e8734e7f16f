"""Provisioning bundles: the SPEC §8 form, valid example payloads, files only the owner can read."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from circulo.errors import CirculoError
from circulo.registry.bundle import (
    ClientCertificate,
    IssuedCredentials,
    TrustAnchor,
    build_bundle,
    compact_bundle,
    qr_payload,
    write_bundle,
)
from circulo.settings import MqttEndpoint
from circulo_schemas.topics import KINDS, parse_topic
from circulo_schemas.validate import parse_payload

BROKER = MqttEndpoint("broker.example", 8883, True, None, None)
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n"
TRUST = TrustAnchor(CA_PEM, "ab" * 32)
ISSUED_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def credentials(kind: str = "meter", device_id: str = "m-1") -> IssuedCredentials:
    return IssuedCredentials(device_id, kind, "coop1", "s3cret-pass", 2, ISSUED_AT)


def test_a_bundle_has_the_spec_fields() -> None:
    bundle = build_bundle(credentials(), BROKER, TRUST)
    assert {k: bundle[k] for k in ("device_id", "kind", "username", "password", "host", "port", "tls")} == {
        "device_id": "m-1",
        "kind": "meter",
        "username": "m-1",
        "password": "s3cret-pass",
        "host": "broker.example",
        "port": 8883,
        "tls": True,
    }
    assert bundle["topics"] == {
        "telemetry": "circulo/v1/meter/m-1/telemetry",
        "event": "circulo/v1/meter/m-1/event",  # v2: replay_unavailable (SPEC §11)
        "status": "circulo/v1/meter/m-1/status",
    }
    assert bundle["last_will"] == {
        "topic": "circulo/v1/meter/m-1/status",
        "payload": {"v": 1, "state": "offline"},
        "qos": 1,
        "retain": True,
    }
    assert bundle["credentials_version"] == 2


@pytest.mark.parametrize("kind", KINDS)
def test_every_example_payload_passes_the_contract(kind: str) -> None:
    bundle = build_bundle(credentials(kind, f"{kind}-1"), BROKER, TRUST)
    assert bundle["examples"], "each kind has examples"
    for channel, example in bundle["examples"].items():
        topic = parse_topic(bundle["topics"][channel])
        parse_payload(topic, json.dumps(example).encode())  # raises Rejection when invalid


def test_the_qr_code_holds_the_compact_spec_form_only() -> None:
    bundle = build_bundle(credentials(), BROKER, TRUST)
    assert json.loads(qr_payload(bundle)) == compact_bundle(bundle)
    assert set(compact_bundle(bundle)) == {
        "device_id", "kind", "username", "password", "host", "port", "tls", "topics", "ca_sha256",
    }  # fmt: skip


def test_bundle_files_are_written_for_the_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "bundles"
    files = write_bundle(build_bundle(credentials(), BROKER, TRUST), directory)
    assert files.json_path == directory / "m-1.json"
    assert files.png_path == directory / "m-1.png"
    for path in (files.json_path, files.png_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(files.json_path.read_text())["password"] == "s3cret-pass"
    assert files.png_path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in directory.iterdir()) == ["m-1.json", "m-1.png"]


def test_a_rotated_bundle_replaces_the_old_file_and_keeps_it_private(tmp_path: Path) -> None:
    old = write_bundle(build_bundle(credentials(), BROKER, TRUST), tmp_path)
    old.json_path.chmod(0o644)
    rotated = IssuedCredentials("m-1", "meter", "coop1", "new-pass", 3, ISSUED_AT)
    write_bundle(build_bundle(rotated, BROKER, TRUST), tmp_path)
    assert json.loads(old.json_path.read_text())["password"] == "new-pass"
    assert stat.S_IMODE(old.json_path.stat().st_mode) == 0o600


def test_a_public_cas_bundle_names_the_root_by_fingerprint_and_carries_no_pem() -> None:
    bundle = build_bundle(credentials(), BROKER, TrustAnchor(None, "cd" * 32))
    assert "ca_cert" not in bundle and bundle["ca_sha256"] == "cd" * 32
    assert bundle["tls"] is True and bundle["bundle_version"] == 2


def test_with_mutual_tls_the_bundle_carries_the_certificate_and_encrypted_key_and_the_qr_neither() -> None:
    client = ClientCertificate(
        serial="ab12", chain_pem="-----BEGIN CERTIFICATE-----\nDEVICE\n",
        key_pem="-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
        passphrase="abcd-efgh-ijkl-mnop-qrst-uvwx", sha256="ef" * 32, not_after="2029-12-01T00:00:00+00:00",
    )  # fmt: skip
    issued = IssuedCredentials("m-1", "meter", "coop1", "s3cret-pass", 2, ISSUED_AT, client)
    bundle = build_bundle(issued, BROKER, TRUST)
    assert bundle["client_cert"] == client.chain_pem and bundle["client_key"] == client.key_pem
    assert bundle["client_cert_sha256"] == "ef" * 32
    everything = json.dumps(bundle) + qr_payload(bundle)
    assert client.passphrase not in everything  # the passphrase travels apart
    assert "PRIVATE KEY" not in qr_payload(bundle) and "CERTIFICATE" not in qr_payload(bundle)


def test_a_tls_bundle_without_the_brokers_ca_is_refused() -> None:
    with pytest.raises(CirculoError, match="TLS without the broker's CA"):
        build_bundle(credentials(), BROKER)
