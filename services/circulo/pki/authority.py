"""The PKI's operations: create it, import a CA or a public server certificate, issue, revoke, renew.

Each operation holds the PKI's lock, reads and checks everything it needs first (a bad
input is one clear error and changes nothing), then writes. The settings file is written
last by ``init``: a PKI exists once ``pki.json`` does. Every operation returns what it
changed (:class:`Changes`), which the caller mirrors to the database and tells the broker.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from circulo.pki import certs, crl, files
from circulo.pki.certs import PrivateKey
from circulo.pki.errors import PkiError
from circulo.pki.layout import BROKER_SERVER, PkiLayout
from circulo.pki.model import CertFacts, CrlFacts, Index, PkiConfig, crl_facts, facts_of
from circulo.pki.settings import PkiSettings


@dataclass(frozen=True)
class Changes:
    """What an operation changed: certificates issued or revoked, a new CRL, the broker's files."""

    certificates: tuple[CertFacts, ...] = ()
    crl: CrlFacts | None = None
    broker_files: bool = False

    def __add__(self, other: Changes) -> Changes:
        return Changes(
            self.certificates + other.certificates,
            other.crl or self.crl,
            self.broker_files or other.broker_files,
        )


@dataclass(frozen=True)
class ServerNames:
    """The host names and IP addresses a server certificate is for (its SAN)."""

    hosts: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        found = [] if self.hosts or self.ips else ["give at least one --host or --ip"]
        for ip in self.ips:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                found.append(f"{ip!r} is not an IP address")
        found += [f"{h!r} is not a host name" for h in self.hosts if not _host_name(h)]
        return found


def _host_name(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return bool(host) and all(0 < len(part) <= 63 and part.replace("-", "").isalnum() for part in labels)


@dataclass(frozen=True)
class ExistingCa:
    """The co-op's own CA, imported instead of creating one (its key signs the leaves)."""

    cert_file: Path
    key_file: Path
    root_file: Path | None = None  # the root above it; None when the CA is itself a root


@dataclass(frozen=True)
class InitRequest:
    """What ``circulo pki init`` makes."""

    organisation: str
    broker: ServerNames
    mutual_tls: bool = False
    key_type: str = "rsa"
    root_key_out: Path | None = None  # write the root key here (offline media), not in the PKI
    existing_ca: ExistingCa | None = None


@dataclass(frozen=True)
class DeviceCertificate:
    """A device certificate just issued; its key exists only here and in the device's bundle."""

    facts: CertFacts
    chain_pem: bytes  # the device's certificate, then the issuing CA's
    key: PrivateKey = field(repr=False)


def _now() -> datetime:
    return datetime.now(UTC)


# --- init --------------------------------------------------------------------------------------
def init(settings: PkiSettings, request: InitRequest) -> Changes:
    """Create the PKI: root (or the imported CA), issuing CA, the broker's certificate, the first CRL."""
    layout = settings.layout()
    _check_init(layout, request)
    with files.exclusive(layout):
        if layout.config_file.exists():
            raise PkiError(f"a PKI exists already in {layout.root} (circulo pki status)")
        if request.existing_ca is not None:
            root, issuing, issuing_key = _imported_ca(request.existing_ca)
            entries = _ca_entries(root, issuing)
        else:
            root, issuing, issuing_key, root_key = _new_cas(settings, request)
            entries = _ca_entries(root, issuing)
        files.prepare_directory(layout)
        if request.existing_ca is None:
            files.write_key(request.root_key_out or layout.root_key, root_key)
        _write_cas(layout, root, issuing, issuing_key)
        config = PkiConfig(request.organisation, request.mutual_tls, "own", request.key_type)
        changes = _issue_server(
            settings, layout, config, Index(tuple(entries)), server=BROKER_SERVER, names=request.broker
        )
        files.write_json(layout.config_file, config.as_json())
    return Changes(tuple(entries)) + changes


def _check_init(layout: PkiLayout, request: InitRequest) -> None:
    problems = request.broker.problems()
    if request.key_type not in certs.KEY_TYPES:
        problems.append(f"key type must be one of {', '.join(certs.KEY_TYPES)}")
    if not request.organisation.strip():
        problems.append("the organisation name is empty")
    out = request.root_key_out
    if out is not None and (out.exists() or not out.parent.is_dir()):
        problems.append(f"--root-key-out {out}: must be a new file in an existing directory")
    if problems:
        raise PkiError("pki init: " + "; ".join(problems))


def _new_cas(
    settings: PkiSettings, request: InitRequest
) -> tuple[x509.Certificate, x509.Certificate, PrivateKey, PrivateKey]:
    now, org = _now(), request.organisation
    root_key, issuing_key = certs.new_key(request.key_type), certs.new_key(request.key_type)
    root = certs.build_root(root_key, certs.name(f"{org} Root CA", org), now, settings.root_days)
    issuing = certs.build_issuing(
        issuing_key.public_key(), certs.name(f"{org} Issuing CA", org), root=root, root_key=root_key,
        now=now, days=settings.issuing_days,
    )  # fmt: skip
    return root, issuing, issuing_key, root_key


def _imported_ca(existing: ExistingCa) -> tuple[x509.Certificate, x509.Certificate, PrivateKey]:
    """The co-op's CA and its root, checked: a CA, its own key, signed by the root."""
    issuing = files.read_cert(existing.cert_file, "CA certificate")
    key = files.read_key(existing.key_file, "CA key")
    root = files.read_cert(existing.root_file, "root certificate") if existing.root_file else issuing
    if not certs.is_ca(issuing):
        raise PkiError(f"CA certificate {existing.cert_file}: not a CA certificate (basicConstraints)")
    if not certs.key_matches(issuing, key):
        raise PkiError(f"CA key {existing.key_file}: not the key of {existing.cert_file}")
    if not certs.signed_by(issuing, root) or not certs.signed_by(root, root):
        raise PkiError(f"CA certificate {existing.cert_file}: not signed by the root {existing.root_file}")
    return root, issuing, key


def _ca_entries(root: x509.Certificate, issuing: x509.Certificate) -> list[CertFacts]:
    if root == issuing:
        return [facts_of(root, "root")]
    return [facts_of(root, "root"), facts_of(issuing, "issuing")]


def _write_cas(layout: PkiLayout, root: x509.Certificate, issuing: x509.Certificate, key: PrivateKey) -> None:
    files.write_file(layout.root_cert, certs.pem(root))
    files.write_file(layout.trust_anchor, certs.pem(root))
    files.write_file(layout.issuing_cert, certs.pem(issuing))
    files.write_key(layout.issuing_key, key)
    chain = certs.pem(issuing) + (certs.pem(root) if root != issuing else b"")
    files.write_file(layout.chain, chain)


# --- the issuing CA ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Issuer:
    """The loaded issuing CA: what signs leaves and CRLs."""

    cert: x509.Certificate
    key: PrivateKey = field(repr=False)
    chain_pem: bytes  # issuing CA (+ root): what a leaf's chain file carries after the leaf


def load_issuer(layout: PkiLayout) -> Issuer:
    """The issuing CA's certificate and key, checked to belong together."""
    cert = files.read_cert(layout.issuing_cert, "issuing CA certificate")
    key = files.read_key(layout.issuing_key, "issuing CA key")
    if not certs.key_matches(cert, key):
        raise PkiError(f"issuing CA key {layout.issuing_key}: not the key of {layout.issuing_cert}")
    return Issuer(cert, key, certs.pem(cert))


def _issue_server(
    settings: PkiSettings, layout: PkiLayout, config: PkiConfig, index: Index, *, server: str,
    names: ServerNames,
) -> Changes:  # fmt: skip
    issuer = load_issuer(layout)
    key = certs.new_key(config.key_type)
    cert = certs.build_server(
        key.public_key(), server, hosts=names.hosts, ips=names.ips, issuer=issuer.cert,
        issuer_key=issuer.key, now=_now(), days=settings.server_days,
    )  # fmt: skip
    files.write_key(layout.server_key(server), key)
    files.write_file(layout.server_cert(server), certs.pem(cert) + issuer.chain_pem)
    facts = facts_of(cert, "server", server)
    index = index.add(facts)
    changes = Changes((facts,))
    if not layout.crl_file.exists():
        changes += _publish_crl(settings, layout, index, issuer)
    else:
        files.save_index(layout, index)
    if server == BROKER_SERVER and config.server_ca == "own":
        files.write_file(layout.broker_anchor, files.read_bytes(layout.trust_anchor, "trust anchor"))
        publish_broker_files(layout, settings.broker_group)
        changes += Changes(broker_files=True)
    return changes


def issue_server(settings: PkiSettings, server: str, names: ServerNames) -> Changes:
    """A new key and certificate for a server (renewal included: the old one simply expires)."""
    problems = names.problems()
    if problems:
        raise PkiError(f"pki server issue {server}: " + "; ".join(problems))
    layout = settings.layout()
    with files.exclusive(layout):
        config = files.load_config(layout)
        if server == BROKER_SERVER and config.server_ca == "public":
            raise PkiError(
                "the broker's certificate comes from a public CA here: renew it there and "
                "`circulo pki server import`"
            )
        return _issue_server(settings, layout, config, files.load_index(layout), server=server, names=names)


def current_names(layout: PkiLayout, server: str) -> ServerNames:
    """The SAN of a server's current certificate (what a renewal keeps)."""
    hosts, ips = certs.san_entries(files.read_cert(layout.server_cert(server), f"{server} certificate"))
    return ServerNames(tuple(hosts), tuple(ips))


# --- a public CA's server certificate ----------------------------------------------------------
def import_server(settings: PkiSettings, cert_file: Path, key_file: Path, anchor_file: Path) -> Changes:
    """Use a certificate from a public CA (e.g. ACME) for the broker: leaf + chain, its key, the root."""
    layout = settings.layout()
    chain = files.read_certs(cert_file, "server certificate")
    key = files.read_key(key_file, "server key")
    anchor = files.read_cert(anchor_file, "root CA certificate")
    _check_public_chain(chain, key, anchor, cert_file, key_file)
    with files.exclusive(layout):
        config = files.load_config(layout)
        index = files.load_index(layout)
        files.write_key(layout.server_key(BROKER_SERVER), key)
        files.write_file(layout.server_cert(BROKER_SERVER), b"".join(certs.pem(c) for c in chain))
        files.write_file(layout.broker_anchor, certs.pem(anchor))
        facts = facts_of(chain[0], "server", BROKER_SERVER)
        files.save_index(layout, index.add(facts))
        publish_broker_files(layout, settings.broker_group)
        files.write_json(layout.config_file, replace(config, server_ca="public").as_json())
    return Changes((facts,), broker_files=True)


def _check_public_chain(
    chain: list[x509.Certificate], key: PrivateKey, anchor: x509.Certificate, cert_file: Path, key_file: Path
) -> None:
    leaf = chain[0]
    if not certs.key_matches(leaf, key):
        raise PkiError(f"server key {key_file}: not the key of the first certificate in {cert_file}")
    if certs.is_ca(leaf):
        raise PkiError(f"server certificate {cert_file}: the first certificate is a CA, not a server's")
    hosts, ips = certs.san_entries(leaf)
    if not hosts and not ips:
        raise PkiError(f"server certificate {cert_file}: no subjectAltName (clients verify host names by it)")
    subject: verification.Subject = (
        x509.DNSName(hosts[0]) if hosts else x509.IPAddress(ipaddress.ip_address(ips[0]))
    )
    verifier = (
        verification.PolicyBuilder().store(verification.Store([anchor])).time(_now())
        .build_server_verifier(subject)
    )  # fmt: skip
    try:
        verifier.verify(leaf, chain[1:])
    except verification.VerificationError as e:
        raise PkiError(f"server certificate {cert_file}: does not chain to the root given ({e})") from e


# --- devices -------------------------------------------------------------------------------------
def issue_device(settings: PkiSettings, device_id: str) -> tuple[DeviceCertificate, Changes]:
    """A client certificate for a device (CN = device id) and its key, which is not kept."""
    layout = settings.layout()
    with files.exclusive(layout):
        files.load_config(layout)
        issuer = load_issuer(layout)
        key = certs.new_key("ec")  # EC P-256: small and fast on microcontrollers
        cert = certs.build_device(
            key.public_key(),
            device_id,
            issuer=issuer.cert,
            issuer_key=issuer.key,
            now=_now(),
            days=settings.device_days,
        )
        facts = facts_of(cert, "device", device_id)
        files.write_file(layout.device_cert(device_id), certs.pem(cert))
        files.save_index(layout, files.load_index(layout).add(facts))
    return DeviceCertificate(facts, certs.pem(cert) + issuer.chain_pem, key), Changes((facts,))


# --- revocation and the CRL ------------------------------------------------------------------------
def revoke(
    settings: PkiSettings,
    *,
    serials: Sequence[str] = (),
    device_id: str | None = None,
    keep: str | None = None,
    reason: str = "unspecified",
    sessions_cut: bool = False,
) -> Changes:
    """Revoke certificates (by serial, or every live certificate of a device but ``keep``); a new CRL.

    ``sessions_cut``: whether the caller has cut (or needs no cut of) the devices' live
    sessions; false leaves it to the registry (``device sync`` cuts them).
    """
    if reason not in certs.REASONS:
        raise PkiError(f"revocation reason must be one of {', '.join(certs.REASONS)}")
    layout = settings.layout()
    with files.exclusive(layout):
        files.load_config(layout)
        index = files.load_index(layout)
        targets = _revocation_targets(index, serials, device_id, keep)
        now = _now().replace(microsecond=0)
        revoked = tuple(
            t.revoke(now, reason, sessions_cut=sessions_cut or t.kind != "device") for t in targets
        )
        for facts in revoked:
            index = index.replace_entry(facts)
        if not revoked and not crl.pending(layout, index):
            return Changes()
        return Changes(revoked) + _publish_crl(settings, layout, index, load_issuer(layout))


def _revocation_targets(
    index: Index, serials: Sequence[str], device_id: str | None, keep: str | None
) -> list[CertFacts]:
    targets = [e for e in index.live_of("device", device_id) if e.serial != keep] if device_id else []
    for serial in serials:
        entry = index.find(serial.lower().removeprefix("0x"))
        if entry is None:
            raise PkiError(f"no certificate with serial {serial} in this PKI (circulo pki status --json)")
        if entry.kind not in ("server", "device"):
            raise PkiError(f"serial {serial} is the {entry.kind} CA: a CA is replaced, not listed on its CRL")
        if entry.revoked:
            raise PkiError(f"serial {serial} is revoked already ({entry.revoked_at:%Y-%m-%d %H:%M:%S} UTC)")
        targets.append(entry)
    return targets


def mark_sessions_cut(settings: PkiSettings, serials: Sequence[str]) -> None:
    """Record that the live sessions of these revoked certificates' devices were cut."""
    layout = settings.layout()
    with files.exclusive(layout):
        index = files.load_index(layout)
        for serial in serials:
            entry = index.find(serial)
            if entry is not None:
                index = index.replace_entry(replace(entry, sessions_cut=True))
        files.save_index(layout, index)


def renew_crl(settings: PkiSettings, *, force: bool = False) -> Changes:
    """Re-issue the CRL when it is due (older than ``crl_renew_after_hours``), a revocation is
    pending, or ``force``; no change otherwise."""
    layout = settings.layout()
    with files.exclusive(layout):
        files.load_config(layout)
        index = files.load_index(layout)
        due = crl.is_due(crl.current_facts(layout), _now(), timedelta(hours=settings.crl_renew_after_hours))
        if not (force or due or crl.pending(layout, index)):
            return Changes()
        return _publish_crl(settings, layout, index, load_issuer(layout))


def _publish_crl(settings: PkiSettings, layout: PkiLayout, index: Index, issuer: Issuer) -> Changes:
    revocation_list, index = crl.issue(layout, index, issuer.cert, issuer.key, valid_days=settings.crl_days)
    files.save_index(layout, index)
    content = revocation_list.public_bytes(serialization.Encoding.PEM)
    files.write_file(layout.crl_file, content)
    files.write_file(layout.broker_files["crlfile"], content)
    return Changes(crl=crl_facts(revocation_list, issuer.cert), broker_files=True)


def publish_broker_files(layout: PkiLayout, group: str | None) -> None:
    """Copy what the broker reads into ``broker/`` (its key readable by ``group`` when given)."""
    target = layout.broker_files
    chain = files.read_bytes(layout.server_cert(BROKER_SERVER), "broker certificate")
    files.write_file(target["certfile"], chain)
    key = files.read_key(layout.server_key(BROKER_SERVER), "broker key")
    files.write_key(target["keyfile"], key, group=group)
    files.write_file(target["cafile"], files.read_bytes(layout.chain, "CA chain"))
    if layout.crl_file.exists():
        files.write_file(target["crlfile"], files.read_bytes(layout.crl_file, "CRL"))


def set_mutual_tls(settings: PkiSettings, enabled: bool) -> PkiConfig:
    """Record whether the deployment requires client certificates (the broker's config must agree)."""
    layout = settings.layout()
    with files.exclusive(layout):
        config = replace(files.load_config(layout), mutual_tls=enabled)
        files.write_json(layout.config_file, config.as_json())
    return config


def index_of(settings: PkiSettings) -> tuple[PkiConfig, Index]:
    """The PKI's settings and index (read-only)."""
    layout = settings.layout()
    return files.load_config(layout), files.load_index(layout)


def renew_due(settings: PkiSettings) -> Changes:
    """What the renewal timer does: the CRL when due, and every server certificate of the own CA
    that is within ``renew_before_days`` of expiry, with the same names."""
    changes = renew_crl(settings)
    layout = settings.layout()
    config, index = index_of(settings)
    margin = timedelta(days=settings.renew_before_days)
    for server in sorted({e.name for e in index.entries if e.kind == "server"}):
        current = index.current("server", server)
        public = server == BROKER_SERVER and config.server_ca == "public"
        if current is None or public or current.not_after - _now() > margin:
            continue
        changes += issue_server(settings, server, current_names(layout, server))
    return changes
