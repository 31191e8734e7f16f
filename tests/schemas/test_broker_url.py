"""Broker URLs (the wire contract's, shared by services and the simulator): schemes, the CA file,
and TLS failures said in one line."""

from __future__ import annotations

import re
import ssl

import pytest

from circulo_schemas.broker import (
    BrokerTlsError,
    BrokerUrl,
    BrokerUrlError,
    parse_broker_url,
    redact,
    tls_context,
    tls_failure,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtts://u:p@broker.example:8884?cafile=/etc/ca.pem",
         BrokerUrl("broker.example", 8884, True, "u", "p", "/etc/ca.pem")),
        ("mqtts://broker.example", BrokerUrl("broker.example", 8883, True, None, None, None)),
        ("ssl://u:p%40w@10.0.0.1/", BrokerUrl("10.0.0.1", 8883, True, "u", "p@w", None)),
        ("mqtt://u:p@127.0.0.1:1883", BrokerUrl("127.0.0.1", 1883, False, "u", "p", None)),
        ("mqtts://h?cafile=/a%20b/ca.pem", BrokerUrl("h", 8883, True, None, None, "/a b/ca.pem")),
    ],
)  # fmt: skip
def test_a_broker_url_gives_host_port_tls_credentials_and_ca(url: str, expected: BrokerUrl) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h", "expected mqtts://"),
        ("mqtts://u:secret@h:99999", "bad port"),
        ("mqtts://h/topic", "no path"),
        ("mqtts://h?verify=no", "unknown broker URL parameter 'verify'"),
        ("mqtt://h?cafile=/ca.pem", "cafile is for mqtts:// URLs"),
        ("mqtts://h?cafile=", "empty cafile"),
    ],
)
def test_a_bad_broker_url_says_what_is_wrong_and_never_shows_the_password(url: str, says: str) -> None:
    with pytest.raises(BrokerUrlError, match=re.escape(says)) as error:
        parse_broker_url(url)
    assert "secret" not in str(error.value)
    assert redact("mqtts://u:secret@h:1") == "mqtts://u:***@h:1"


def test_the_tls_context_verifies_certificate_and_host_name_from_tls_1_2_up(tmp_path: object) -> None:
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    with pytest.raises(BrokerTlsError, match=re.escape("CA /nonexistent/ca.pem: cannot load it")):
        tls_context(cafile="/nonexistent/ca.pem")


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (62, "not valid for 'broker.example' (host name mismatch)"),
        (64, "not valid for 'broker.example' (host name mismatch)"),
        (20, "not signed by the CA in /etc/ca.pem (unknown CA)"),
        (19, "not signed by the CA in /etc/ca.pem (unknown CA)"),
        (10, "has expired"),
        (9, "not valid yet"),
    ],
)
def test_a_refused_broker_certificate_is_said_in_words(code: int, says: str) -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code, error.verify_message = code, "x"
    assert says in (tls_failure(error, "broker.example", "/etc/ca.pem") or "")


def test_a_refused_client_certificate_and_a_plaintext_port_are_said_in_words() -> None:
    revoked = ssl.SSLError(1, "alert")
    revoked.reason = "SSLV3_ALERT_CERTIFICATE_REVOKED"
    assert tls_failure(revoked, "h", None) == "the broker refused our client certificate: it is revoked"
    plain = ssl.SSLError(1, "wrong version")
    plain.reason = "WRONG_VERSION_NUMBER"
    assert "does not speak TLS" in (tls_failure(plain, "h", None) or "")
    assert tls_failure(ConnectionRefusedError(111, "refused"), "h", None) is None
