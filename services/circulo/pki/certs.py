"""x509 certificates and CRLs of the deployment, built with ``cryptography`` (pure: no file, no clock).

Every builder takes the signing key and the time explicitly, so the profiles are tested
from tables and an expired certificate is as easy to make as a fresh one.

Profiles (RFC 5280):

- root CA: basicConstraints CA, pathLen 1; keyCertSign, cRLSign;
- issuing CA: basicConstraints CA, pathLen 0; keyCertSign, cRLSign; signed by the root;
- server: not a CA; serverAuth; subjectAltName with the DNS names and IP addresses the
  clients use (hostname verification reads only the SAN, never the CN);
- device: not a CA; clientAuth; CN = device id (SPEC §9);
- CRL: CRL number, authority key identifier, one entry per revoked serial with its reason.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
KEY_TYPES = ("rsa", "ec")
RSA_BITS = 2048  # what every TLS device stack accepts (Tasmota's BearSSL build: at most 2048)
# a certificate is valid from a little before it is made: clocks of devices drift
BACKDATE = timedelta(minutes=5)

REASONS = {
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "unspecified": x509.ReasonFlags.unspecified,
}


@dataclass(frozen=True)
class Revocation:
    """One entry of a CRL."""

    serial: int
    revoked_at: datetime
    reason: str = "unspecified"


def new_key(key_type: str) -> PrivateKey:
    """A fresh private key: RSA 2048 or EC P-256."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"key type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")


def name(common_name: str, organisation: str | None = None) -> x509.Name:
    """A distinguished name: O (when given) and CN."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)] if organisation else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _base(
    subject: x509.Name, issuer: x509.Name, public_key: PublicKey, now: datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _leaf_usage(public_key: PublicKey) -> x509.KeyUsage:
    # RSA key exchange (TLS 1.2 RSA suites, which Tasmota uses) needs keyEncipherment
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=rsa_key, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _signed(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256())


def build_root(key: PrivateKey, subject: x509.Name, now: datetime, days: int) -> x509.Certificate:
    """A self-signed root CA that may sign one level of CAs below it."""
    builder = (
        _base(subject, subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
    )
    return _signed(builder, key)


def build_issuing(
    public_key: PublicKey, subject: x509.Name, *, root: x509.Certificate, root_key: PrivateKey,
    now: datetime, days: int,
) -> x509.Certificate:  # fmt: skip
    """The online issuing CA, signed by the root; it signs leaves only."""
    builder = (
        _base(subject, root.subject, public_key, now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_authority_key_id(root), critical=False)
    )
    return _signed(builder, root_key)


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def alt_names(hosts: Sequence[str], ips: Sequence[str]) -> x509.SubjectAlternativeName:
    """The SAN of a server certificate; ValueError naming a bad address."""
    entries: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    entries += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return x509.SubjectAlternativeName(entries)


def build_server(
    public_key: PublicKey, common_name: str, *, hosts: Sequence[str], ips: Sequence[str],
    issuer: x509.Certificate, issuer_key: PrivateKey, now: datetime, days: int,
) -> x509.Certificate:  # fmt: skip
    """A TLS server certificate for the host names and IP addresses its clients connect to."""
    builder = (
        _base(name(common_name), issuer.subject, public_key, now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(alt_names(hosts, ips), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    return _signed(builder, issuer_key)


def build_device(
    public_key: PublicKey, device_id: str, *, issuer: x509.Certificate, issuer_key: PrivateKey,
    now: datetime, days: int,
) -> x509.Certificate:  # fmt: skip
    """A device's TLS client certificate, CN = device id."""
    builder = (
        _base(name(device_id), issuer.subject, public_key, now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    return _signed(builder, issuer_key)


def build_crl(
    issuer: x509.Certificate, issuer_key: PrivateKey, revoked: Sequence[Revocation], *,
    number: int, this_update: datetime, next_update: datetime,
) -> x509.CertificateRevocationList:  # fmt: skip
    """The issuing CA's CRL listing ``revoked``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(REASONS[entry.reason]), critical=False)
            .build()
        )
    return builder.sign(issuer_key, hashes.SHA256())


# --- reading ---------------------------------------------------------------------------------
def sha256_hex(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex (the bundle's ``ca_sha256``, SPEC §9)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def common_name(cert: x509.Certificate) -> str:
    """The certificate's CN ('' when it has none)."""
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def key_matches(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``key`` is the private key of ``cert``."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (names and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def san_entries(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses of a certificate's SAN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def private_pem(key: PrivateKey, passphrase: str | None = None) -> bytes:
    """PKCS#8 PEM, encrypted (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
