"""How a client reaches the broker: ``mqtts://user:password@host:port?cafile=PATH`` (SPEC §9).

The same URL form serves every Circulo client (services, the simulator, tools) and the
``host``/``port``/``tls`` of a provisioning bundle (SPEC §8), so it lives with the contract.

- ``mqtts://`` (or ``ssl://``): TLS 1.2 or later; the broker's certificate is verified
  against ``cafile`` (PEM; the PKI's ``broker-ca.pem``) or, without it, the system's trust
  store (a public CA), and its host name against the URL's host. A failure is an error,
  never a fallback to plaintext.
- ``mqtt://`` (or ``tcp://``): plaintext, for a loopback or private service listener only.

:func:`tls_context` builds the ``ssl.SSLContext`` every client uses, :func:`tls_failure`
says in one line why a handshake failed. Only the standard library: the simulator uses it.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

PLAIN_SCHEMES = frozenset({"mqtt", "tcp"})
TLS_SCHEMES = frozenset({"mqtts", "ssl"})
PLAIN_PORT = 1883
TLS_PORT = 8883
QUERY_KEYS = frozenset({"cafile"})


class BrokerUrlError(ValueError):
    """A broker URL that is not one; the message says what is wrong (never the password)."""


class BrokerTlsError(BrokerUrlError):
    """The TLS settings cannot be used (an unreadable CA file, a client key that does not load)."""


@dataclass(frozen=True)
class BrokerUrl:
    """Host, port, TLS, credentials and trust anchor of a broker URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None = field(repr=False)
    cafile: str | None = None


@dataclass(frozen=True)
class ClientCertificate:
    """A TLS client certificate (mutual TLS): the certificate chain and its (encrypted) key."""

    certfile: str
    keyfile: str
    passphrase: str | None = field(default=None, repr=False)


def parse_broker_url(url: str) -> BrokerUrl:
    """Parse a broker URL; :class:`BrokerUrlError` when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in PLAIN_SCHEMES | TLS_SCHEMES or not parts.hostname:
        raise BrokerUrlError(
            f"expected mqtts://[user:password@]host[:port][?cafile=PATH], got {redact(url)!r}"
        )
    tls = parts.scheme in TLS_SCHEMES
    try:
        port = parts.port or (TLS_PORT if tls else PLAIN_PORT)
    except ValueError as e:
        raise BrokerUrlError(f"bad port in {redact(url)!r}") from e
    if parts.path not in ("", "/"):
        raise BrokerUrlError(f"a broker URL has no path: {redact(url)!r}")
    return BrokerUrl(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        cafile=_cafile(parts.query, tls, url),
    )


def _cafile(query: str, tls: bool, url: str) -> str | None:
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as e:
        raise BrokerUrlError(f"bad query in {redact(url)!r}") from e
    unknown = sorted(set(values) - QUERY_KEYS)
    if unknown:
        raise BrokerUrlError(
            f"unknown broker URL parameter {unknown[0]!r} (known: cafile) in {redact(url)!r}"
        )
    cafile = values.get("cafile", [None])[-1]
    if cafile is not None and not tls:
        raise BrokerUrlError(f"cafile is for mqtts:// URLs, not plaintext: {redact(url)!r}")
    if cafile == "":
        raise BrokerUrlError(f"empty cafile in {redact(url)!r}")
    return cafile


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for error messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails: paho-mqtt keeps no reference to
    a socket whose handshake raised, and would leave it to the garbage collector."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(
    *, cafile: str | None = None, cadata: str | None = None, client: ClientCertificate | None = None
) -> ssl.SSLContext:
    """A client context: TLS 1.2+, the broker verified against ``cafile``/``cadata`` (else the
    system's CAs) and its host name; with ``client``, our certificate for mutual TLS."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile, cadata=cadata)
    except (OSError, ssl.SSLError) as e:
        raise BrokerTlsError(f"CA {cafile or 'data'}: cannot load it ({_reason(e)})") from e
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslsocket_class = _ClosingSSLSocket
    if client is not None:
        try:
            context.load_cert_chain(client.certfile, client.keyfile, client.passphrase)
        except (OSError, ssl.SSLError) as e:
            raise BrokerTlsError(
                f"client certificate {client.certfile}: cannot load it ({_reason(e)})"
            ) from e
    return context


def _reason(error: BaseException) -> str:
    return getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)


# OpenSSL's X509_V_ERR codes a client meets when it verifies a broker
UNKNOWN_CA_CODES = frozenset({2, 18, 19, 20, 21})
NAME_MISMATCH_CODES = frozenset({62, 64})  # host name, IP address
EXPIRED, NOT_YET_VALID = 10, 9
ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the broker requires a client certificate (mutual TLS)",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the broker refused our client certificate: it is revoked",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the broker refused our client certificate: it has expired",
    "TLSV1_ALERT_UNKNOWN_CA": "the broker does not trust the CA of our client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker refused our client certificate",
    "WRONG_VERSION_NUMBER": "the port does not speak TLS (a plaintext listener?)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common (TLS 1.2 or later is required)",
}


def tls_failure(error: BaseException, host: str, cafile: str | None) -> str | None:
    """Why a TLS handshake with the broker failed, in one line; None when it was no TLS error."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return _verification_failure(error, host, cafile)
    if isinstance(error, ssl.SSLError):
        return ALERTS.get(str(error.reason), f"TLS handshake failed ({error.reason or error})")
    return None


def _verification_failure(error: ssl.SSLCertVerificationError, host: str, cafile: str | None) -> str:
    code = error.verify_code
    trusted = f"the CA in {cafile}" if cafile else "the system's trusted CAs"
    if code in NAME_MISMATCH_CODES:
        return f"the broker's certificate is not valid for {host!r} (host name mismatch): use a name it lists"
    if code in UNKNOWN_CA_CODES:
        return f"the broker's certificate is not signed by {trusted} (unknown CA)"
    if code == EXPIRED:
        return "the broker's certificate has expired"
    if code == NOT_YET_VALID:
        return "the broker's certificate is not valid yet (is this clock right?)"
    return f"the broker's certificate was refused: {error.verify_message}"


def check_tls(broker: BrokerUrl, context: ssl.SSLContext, *, timeout: float = 5.0) -> None:
    """One TLS handshake with the broker: ``ssl.SSLError`` when it is refused, ``OSError`` when the
    broker cannot be reached at all (a daemon then keeps retrying)."""
    with (
        socket.create_connection((broker.host, broker.port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=broker.host),
    ):
        pass
