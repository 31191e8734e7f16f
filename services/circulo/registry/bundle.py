"""Provisioning bundles: what a device (or the phone of its installer) needs to connect.

The bundle is JSON (SPEC §8: ``device_id, kind, username, password, host, port, tls,
topics``, plus the Last Will, QoS and example payloads) and a QR code of its compact form.
Both hold the device's password, so files are written 0600 and the password is shown
once and never logged. ``{dir}/{device_id}.json`` and ``{dir}/{device_id}.png`` is the
layout the firmware simulator reads.

TLS (SPEC §9): ``ca_cert`` (the broker's CA, PEM, when it is the deployment's own) and
``ca_sha256`` (SHA-256 of its DER, lowercase hex), which the QR code carries too. With
mutual TLS: ``client_cert`` (the device's certificate and the issuing CA) and
``client_key``, encrypted with a passphrase that is never in the bundle nor the QR code:
it is shown (or written) apart, to reach the device by another way.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import qrcode

from circulo.errors import CirculoError
from circulo.registry.firmware_setup import BrokerFacts, firmware_setup, qr_setup
from circulo.settings import MqttEndpoint
from circulo_schemas.encode import format_timestamp
from circulo_schemas.profiles import CIRCULO
from circulo_schemas.topics import CHANNELS, DEFINED_PAIRS, device_topic, device_topic_filter

BUNDLE_VERSION = 2
COMPACT_FIELDS = ("device_id", "kind", "username", "password", "host", "port", "tls", "topics", "ca_sha256")
OFFLINE_WILL = {"v": 1, "state": "offline"}
KEY_ENCRYPTION = "PKCS#8 PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); passphrase delivered separately"


@dataclass(frozen=True)
class TrustAnchor:
    """What a device verifies the broker with: the CA's PEM (None for a public CA) and its SHA-256."""

    pem: str | None
    sha256: str


@dataclass(frozen=True)
class ClientCertificate:
    """A device's certificate as its bundle carries it; the passphrase travels apart from the bundle."""

    serial: str
    chain_pem: str
    key_pem: str  # PKCS#8, encrypted with the passphrase
    passphrase: str = field(repr=False)
    sha256: str
    not_after: str


@dataclass(frozen=True)
class IssuedCredentials:
    """A device's freshly issued password (and certificate) and which issue it is (the secrets live here)."""

    device_id: str
    kind: str
    coop_id: str
    password: str
    version: int
    issued_at: datetime
    client_certificate: ClientCertificate | None = None
    profile: str = CIRCULO


@dataclass(frozen=True)
class BundleFiles:
    """Where a bundle was written."""

    json_path: Path
    png_path: Path


def device_topics(kind: str, device_id: str) -> dict[str, str | None]:
    """Topic per channel; None for a channel the contract defines no messages on for this kind."""
    return {
        channel: device_topic(kind, device_id, channel) if (kind, channel) in DEFINED_PAIRS else None
        for channel in CHANNELS
    }


def build_bundle(
    credentials: IssuedCredentials, broker: MqttEndpoint, trust: TrustAnchor | None = None
) -> dict[str, Any]:
    """The full provisioning bundle of a device (``trust``: the broker's CA, needed with TLS)."""
    kind, device_id = credentials.kind, credentials.device_id
    topics = device_topics(kind, device_id)
    if broker.tls and trust is None:
        raise CirculoError(f"bundle of {device_id}: TLS without the broker's CA")
    bundle: dict[str, Any] = {
        "device_id": device_id,
        "kind": kind,
        "username": device_id,
        "password": credentials.password,
        "host": broker.host,
        "port": broker.port,
        "tls": broker.tls,
        **(tls_fields(trust, credentials.client_certificate) if broker.tls and trust else {}),
        "topics": topics,
        "client_id": device_id,
        "coop_id": credentials.coop_id,
        "profile": credentials.profile,
        "allowed_publish": device_topic_filter(kind, device_id),
        "qos": 1,
        "protocol": "MQTT 5 or 3.1.1",
        "last_will": {"topic": topics["status"], "payload": OFFLINE_WILL, "qos": 1, "retain": True},
        "examples": example_payloads(kind, credentials.issued_at),
        "credentials_version": credentials.version,
        "issued_at": format_timestamp(credentials.issued_at),
        "bundle_version": BUNDLE_VERSION,
    }
    return with_firmware_setup(bundle)


def with_firmware_setup(bundle: dict[str, Any]) -> dict[str, Any]:
    """A profiled meter's bundle: its firmware's settings instead of the native contract's
    Last Will and examples (the firmware publishes its own, SPEC §10)."""
    facts = BrokerFacts(
        bundle["device_id"],
        bundle["password"],
        bundle["host"],
        bundle["port"],
        bundle["tls"],
        bundle.get("ca_cert"),
    )
    setup = firmware_setup(bundle["profile"], facts)
    if setup is None:
        return bundle
    native_only = ("last_will", "examples")
    return {**{k: v for k, v in bundle.items() if k not in native_only}, "firmware_setup": setup}


def tls_fields(trust: TrustAnchor, client: ClientCertificate | None) -> dict[str, Any]:
    """The bundle's TLS fields: the CA (PEM only when private), its fingerprint, the client certificate."""
    fields: dict[str, Any] = {"ca_cert": trust.pem} if trust.pem is not None else {}
    fields["ca_sha256"] = trust.sha256
    if client is not None:
        fields |= {
            "client_cert": client.chain_pem,
            "client_key": client.key_pem,
            "client_key_encryption": KEY_ENCRYPTION,
            "client_cert_sha256": client.sha256,
            "client_cert_not_after": client.not_after,
        }
    return fields


def example_payloads(kind: str, at: datetime) -> dict[str, dict[str, Any]]:
    """One valid payload per defined channel of ``kind`` (SPEC §2), stamped ``at``."""
    ts = format_timestamp(at)
    examples: dict[str, dict[str, Any]] = {
        "status": {"v": 1, "ts": ts, "state": "online", "fw": "1.0.0"},
    }
    if kind == "meter":
        examples["telemetry"] = {"v": 1, "ts": ts, "seq": 1, "energy_wh": 0, "power_w": 0}
    elif kind == "bin":
        examples["telemetry"] = {
            "v": 1, "ts": ts, "seq": 1, "fill_pct": 0, "weight_kg": 0, "battery_pct": 100, "rssi_dbm": -70,
        }  # fmt: skip
        examples["event"] = {
            "v": 1, "ts": ts, "seq": 2, "type": "deposit", "event_id": "dep-000001",
            "material": "pet", "weight_g": 250, "account": "member@example",
        }  # fmt: skip
    else:
        examples["event"] = {
            "v": 1, "ts": ts, "seq": 1, "type": "repair", "event_id": "rep-000001",
            "category": "Toaster", "status": "fixed", "weight_kg": 1.5,
        }  # fmt: skip
    return examples


def compact_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """The SPEC §8 fields and the CA's fingerprint: what the QR code holds (small enough to scan
    from a phone). Never a key, nor the key's passphrase.

    A profiled meter's code also names its profile and carries its firmware setup as one
    string (Tasmota's console line, or Shelly's ``MQTT.SetConfig`` request).
    """
    compact = {name: bundle[name] for name in COMPACT_FIELDS if name in bundle}
    setup = bundle.get("firmware_setup")
    if setup is not None:
        compact.update(profile=bundle["profile"], setup=qr_setup(setup))
    return compact


def qr_payload(bundle: dict[str, Any]) -> str:
    return json.dumps(compact_bundle(bundle), separators=(",", ":"))


# A fixed mask: scanners read any of the eight, and searching for the best one costs
# about 150 ms a code (8 s of a 58-device import).
QR_MASK_PATTERN = 0


def qr_png(bundle: dict[str, Any]) -> bytes:
    """A PNG of the QR code of the compact bundle."""
    return qr_png_of(qr_payload(bundle))


def qr_png_of(text: str) -> bytes:
    """A PNG of the QR code of ``text``."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=QR_MASK_PATTERN)
    code.add_data(text)
    image = code.make_image()
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_text(bundle: dict[str, Any]) -> str:
    """The QR code drawn with block characters, for scanning off a terminal."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(qr_payload(bundle))
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def write_bundle(bundle: dict[str, Any], directory: Path) -> BundleFiles:
    """Write ``{device_id}.json`` and ``{device_id}.png`` (both 0600) into ``directory``."""
    device_id = bundle["device_id"]
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = BundleFiles(directory / f"{device_id}.json", directory / f"{device_id}.png")
        write_secret(files.json_path, (json.dumps(bundle, indent=2) + "\n").encode())
        write_secret(files.png_path, qr_png(bundle))
    except OSError as e:
        raise CirculoError(f"cannot write the bundle of {device_id} to {directory}: {e}") from e
    return files


def write_secret(path: Path, content: bytes) -> None:
    """Write a file readable by its owner only, replacing any older one atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            os.fchmod(out.fileno(), 0o600)  # a left-over temporary file may have had other bits
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
