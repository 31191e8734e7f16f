"""How a client reaches the broker: ``mqtt://user:password@host:port`` (``mqtts://`` for TLS).

The same URL form serves every Circulo client (services, the simulator, tools) and the
``host``/``port``/``tls`` of a provisioning bundle (SPEC §8), so it lives with the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

PLAIN_SCHEMES = frozenset({"mqtt", "tcp"})
TLS_SCHEMES = frozenset({"mqtts", "ssl"})
PLAIN_PORT = 1883
TLS_PORT = 8883


class BrokerUrlError(ValueError):
    """A broker URL that is not one; the message says what is wrong (never the password)."""


@dataclass(frozen=True)
class BrokerUrl:
    """Host, port, TLS and credentials of a broker URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None = field(repr=False)


def parse_broker_url(url: str) -> BrokerUrl:
    """Parse a broker URL; :class:`BrokerUrlError` when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in PLAIN_SCHEMES | TLS_SCHEMES or not parts.hostname:
        raise BrokerUrlError(f"expected mqtt://[user:password@]host[:port] or mqtts://…, got {redact(url)!r}")
    tls = parts.scheme in TLS_SCHEMES
    try:
        port = parts.port or (TLS_PORT if tls else PLAIN_PORT)
    except ValueError as e:
        raise BrokerUrlError(f"bad port in {redact(url)!r}") from e
    return BrokerUrl(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for error messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
