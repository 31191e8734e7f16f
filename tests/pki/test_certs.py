"""Certificate profiles and CRLs (pure builders), checked by cryptography and by OpenSSL itself."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given
from hypothesis import strategies as st

from circulo.pki import certs
from circulo.pki.certs import Revocation
from circulo.pki.crl import next_this_update

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def chain(key_type: str = "rsa") -> tuple[x509.Certificate, x509.Certificate, certs.PrivateKey]:
    root_key, issuing_key = certs.new_key(key_type), certs.new_key(key_type)
    root = certs.build_root(root_key, certs.name("Root", "Co-op"), NOW, 7300)
    issuing = certs.build_issuing(
        issuing_key.public_key(),
        certs.name("Issuing", "Co-op"),
        root=root,
        root_key=root_key,
        now=NOW,
        days=1825,
    )
    return root, issuing, issuing_key


def device_cert(device_id: str, issuing: x509.Certificate, key: certs.PrivateKey) -> x509.Certificate:
    public = certs.new_key("ec").public_key()
    return certs.build_device(public, device_id, issuer=issuing, issuer_key=key, now=NOW, days=30)


def constraints(cert: x509.Certificate) -> tuple[bool, int | None]:
    value = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    return value.ca, value.path_length


def usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@pytest.mark.parametrize("key_type", certs.KEY_TYPES)
def test_the_root_signs_one_level_of_ca_and_the_issuing_ca_signs_leaves_only(key_type: str) -> None:
    root, issuing, _ = chain(key_type)
    assert constraints(root) == (True, 1) and constraints(issuing) == (True, 0)
    assert certs.signed_by(root, root) and certs.signed_by(issuing, root)
    assert not certs.signed_by(root, issuing)
    usage = issuing.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_a_server_certificate_names_its_hosts_and_ips_and_serves_only() -> None:
    _, issuing, key = chain()
    leaf_key = certs.new_key("rsa")
    server = certs.build_server(
        leaf_key.public_key(), "broker", hosts=["mqtt.example.org", "mosquitto"], ips=["127.0.0.1", "::1"],
        issuer=issuing, issuer_key=key, now=NOW, days=397,
    )  # fmt: skip
    assert certs.san_entries(server) == (["mqtt.example.org", "mosquitto"], ["127.0.0.1", "::1"])
    assert usages(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert constraints(server) == (False, None)
    # RSA key exchange (Tasmota's cipher) needs keyEncipherment on an RSA server key
    assert server.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    assert server.not_valid_after_utc - server.not_valid_before_utc == timedelta(days=397) + certs.BACKDATE


def test_a_device_certificate_has_the_device_id_as_cn_and_is_a_client_only() -> None:
    _, issuing, key = chain()
    device = certs.build_device(
        certs.new_key("ec").public_key(),
        "sunvale-meter-001",
        issuer=issuing,
        issuer_key=key,
        now=NOW,
        days=1095,
    )
    assert certs.common_name(device) == "sunvale-meter-001"
    assert device.not_valid_after_utc == NOW + timedelta(days=1095)
    assert usages(device) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert certs.signed_by(device, issuing) and not certs.is_ca(device)


def test_openssl_verifies_the_chain_and_finds_the_revoked_leaf_on_the_crl(tmp_path: Path) -> None:
    root, issuing, key = chain()
    good, revoked = device_cert("m-good", issuing, key), device_cert("m-gone", issuing, key)
    entries = [Revocation(revoked.serial_number, NOW, "superseded")]
    crl = certs.build_crl(
        issuing, key, entries, number=2, this_update=NOW, next_update=NOW + timedelta(days=7)
    )
    files = {"root": certs.pem(root), "issuing": certs.pem(issuing), "good": certs.pem(good),
             "gone": certs.pem(revoked), "crl": crl.public_bytes(serialization.Encoding.PEM)}  # fmt: skip
    for name, content in files.items():
        (tmp_path / f"{name}.pem").write_bytes(content)

    def verify(leaf: str) -> subprocess.CompletedProcess[str]:
        argv = ["openssl", "verify", "-crl_check", "-CAfile", "root.pem", "-untrusted", "issuing.pem",
                "-CRLfile", "crl.pem", "-attime", str(int(NOW.timestamp()) + 60), f"{leaf}.pem"]  # fmt: skip
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False)

    assert verify("good").returncode == 0, verify("good").stdout
    refused = verify("gone")
    assert refused.returncode != 0 and "revoked" in (refused.stdout + refused.stderr)


def test_an_encrypted_device_key_opens_only_with_its_passphrase_with_openssl_too(tmp_path: Path) -> None:
    key = certs.new_key("ec")
    encrypted = certs.private_pem(key, "abcd-efgh-ijkl")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(encrypted, None)
    (tmp_path / "key.pem").write_bytes(encrypted)
    # what an installer does for firmware that takes only a plain key (docs/installers.md)
    opened = subprocess.run(
        ["openssl", "pkey", "-in", "key.pem", "-passin", "pass:abcd-efgh-ijkl"],
        cwd=tmp_path, capture_output=True, check=False,
    )  # fmt: skip
    assert opened.returncode == 0
    loaded = serialization.load_pem_private_key(opened.stdout, None)
    assert loaded.public_key() == key.public_key()


def test_the_fingerprint_is_the_sha256_of_the_der_in_lowercase_hex() -> None:
    root, _, _ = chain("ec")
    digest = certs.sha256_hex(root)
    assert digest == digest.lower() and len(digest) == 64
    der = root.public_bytes(serialization.Encoding.DER)
    assert digest == __import__("hashlib").sha256(der).hexdigest()


SECONDS = st.integers(min_value=0, max_value=10**6)


@given(previous=st.none() | SECONDS, now=SECONDS, micro=st.integers(0, 999_999))
def test_a_new_crl_is_never_ahead_by_more_than_a_second_and_always_after_the_last(
    previous: int | None, now: int, micro: int
) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    last = base + timedelta(seconds=previous) if previous is not None else None
    clock = base + timedelta(seconds=now, microseconds=micro)
    chosen = next_this_update(last, clock)
    assert chosen.microsecond == 0
    if last is not None:
        assert chosen > last
    # ahead of the clock only when the clock is not past the last CRL's second (the issuer waits)
    assert chosen <= clock or (last is not None and chosen == last + timedelta(seconds=1))
