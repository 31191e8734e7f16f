"""Where a fleet and its credentials come from: the registry, bundles, a fleet spec file.

- the registry database: the co-op's devices (kind, rated power, location, capacity,
  profile) and
  its members (the accounts deposits and repairs are drawn from);
- the bundles directory: ``{dir}/{device_id}.json``, the provisioning bundle
  ``circulo device add --bundle-dir DIR`` writes (SPEC §8), for each device's credentials;
- a plain JSON fleet spec (``circulo sim fleet`` writes one) for bulk mode and benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg

from circulo_schemas.broker import (
    BrokerTlsError,
    BrokerUrlError,
    ClientCertificate,
    parse_broker_url,
    tls_context,
)
from circulo_sim import queries
from circulo_sim.errors import ConfigError, NotFound, ServiceUnavailable
from circulo_sim.fleet import DeviceSpec, Fleet, fleet_from_json
from circulo_sim.link import Endpoint


def load_registry_fleet(database_url: str, coop_id: str) -> Fleet:
    """The co-op's devices in service and its members, from the registry."""
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            if conn.execute(queries.COOP_EXISTS, {"coop_id": coop_id}).fetchone() is None:
                raise NotFound(f"co-op {coop_id} is not registered (circulo coop add)")
            rows = conn.execute(queries.COOP_DEVICES, {"coop_id": coop_id}).fetchall()
            members = [r[0] for r in conn.execute(queries.COOP_MEMBERS, {"coop_id": coop_id}).fetchall()]
    except psycopg.Error as e:
        raise ServiceUnavailable(f"registry database: {e}".strip()) from e
    devices = tuple(
        DeviceSpec(
            device_id=r[0],
            kind=r[1],
            lat=r[2],
            lon=r[3],
            rated_power_w=r[4],
            capacity_kg=None if r[5] is None else float(r[5]),
            profile=r[6],
        )
        for r in rows
    )
    return Fleet(coop_id, devices, tuple(members))


def load_fleet_file(path: Path) -> Fleet:
    """A plain fleet spec (JSON)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"fleet spec {path}: {e}") from e
    return fleet_from_json(document)


def load_bundle_endpoints(
    directory: Path, devices: Iterable[DeviceSpec], passphrases: Path | None = None
) -> dict[str, Endpoint]:
    """Each device's broker endpoint and credentials from its provisioning bundle.

    With mutual TLS a bundle carries the device's certificate and its encrypted key; the
    key's passphrase comes separately, from ``{passphrases}/{device_id}.passphrase``.
    """
    endpoints, missing = {}, []
    for device in devices:
        path = directory / f"{device.device_id}.json"
        if not path.is_file():
            missing.append(device.device_id)
            continue
        passphrase = _passphrase(passphrases, device.device_id)
        endpoints[device.device_id] = endpoint_from_bundle(_read_bundle(path), device, passphrase)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(
            f"no provisioning bundle in {directory} for {shown}"
            " (circulo device add --bundle-dir DIR writes one per device)"
        )
    return endpoints


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"provisioning bundle {path}: {e}") from e
    if not isinstance(bundle, dict):
        raise ConfigError(f"provisioning bundle {path}: not a JSON object")
    return bundle


def _passphrase(directory: Path | None, device_id: str) -> str | None:
    if directory is None:
        return None
    try:
        return (directory / f"{device_id}.passphrase").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"key passphrase of {device_id}: {e}") from e


def endpoint_from_bundle(
    bundle: dict[str, Any], device: DeviceSpec, passphrase: str | None = None
) -> Endpoint:
    """The connection a bundle describes; it must be the device's own, of the right kind."""
    try:
        if bundle["device_id"] != device.device_id or bundle["kind"] != device.kind:
            raise ConfigError(
                f"bundle for {device.device_id}: it is for {bundle['kind']} {bundle['device_id']}"
            )
        if bundle.get("profile", device.profile) != device.profile:
            raise ConfigError(
                f"bundle for {device.device_id}: issued for profile {bundle['profile']}, "
                f"the registry says {device.profile} (rotate its credentials for a fresh bundle)"
            )
        tls = bool(bundle["tls"])
        return Endpoint(
            host=str(bundle["host"]),
            port=int(bundle["port"]),
            tls=tls,
            username=str(bundle["username"]),
            password=str(bundle["password"]),
            client_id=str(bundle.get("client_id") or bundle["username"]),
            tls_context=bundle_tls_context(bundle, passphrase) if tls else None,
            ca_label="the bundle's ca_cert" if bundle.get("ca_cert") else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"bundle for {device.device_id}: missing or bad field {e}") from e


def bundle_tls_context(bundle: dict[str, Any], passphrase: str | None) -> ssl.SSLContext:
    """What a firmware does with a bundle (SPEC §9): trust its ``ca_cert`` once it matches
    ``ca_sha256`` (no ``ca_cert``: a public CA, the system's store), and with mutual TLS
    present its certificate, whose key is decrypted with the passphrase given apart."""
    ca_pem = bundle.get("ca_cert")
    if ca_pem is not None:
        digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(ca_pem)).hexdigest()
        if digest != bundle.get("ca_sha256"):
            raise ConfigError(f"bundle for {bundle['device_id']}: ca_cert does not match ca_sha256")
    client = None
    if bundle.get("client_key"):
        if not passphrase:
            raise ConfigError(
                f"bundle for {bundle['device_id']}: its key needs the passphrase (--passphrases DIR)"
            )
        client = _client_files(bundle, passphrase)
    try:
        return tls_context(cadata=ca_pem, client=client)
    except BrokerTlsError as e:
        raise ConfigError(f"bundle for {bundle['device_id']}: {e}") from e
    finally:
        if client is not None:
            shutil.rmtree(Path(client.certfile).parent, ignore_errors=True)


def _client_files(bundle: dict[str, Any], passphrase: str) -> ClientCertificate:
    """The bundle's certificate and (still encrypted) key in a private temporary folder, long enough
    to load them (Python's ssl reads a certificate chain from files only)."""
    folder = Path(tempfile.mkdtemp(prefix="circulo-sim-tls-"))
    (folder / "cert.pem").write_text(str(bundle["client_cert"]), encoding="utf-8")
    (folder / "key.pem").write_text(str(bundle["client_key"]), encoding="utf-8")
    return ClientCertificate(str(folder / "cert.pem"), str(folder / "key.pem"), passphrase)


def service_endpoint(mqtt_url: str, client_id: str) -> Endpoint:
    """The service account of bulk mode, from ``--mqtt-url``."""
    try:
        broker = parse_broker_url(mqtt_url)
    except BrokerUrlError as e:
        raise ConfigError(f"mqtt_url: {e}") from e
    if not broker.username:
        raise ConfigError("bulk mode needs a service account in --mqtt-url (mqtts://user:password@host:port)")
    try:
        context = tls_context(cafile=broker.cafile) if broker.tls else None
    except BrokerTlsError as e:
        raise ConfigError(f"mqtt_url: {e}") from e
    return Endpoint(
        broker.host,
        broker.port,
        broker.tls,
        broker.username,
        broker.password,
        client_id,
        context,
        broker.cafile,
    )
