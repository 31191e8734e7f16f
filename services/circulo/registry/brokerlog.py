"""What the broker can tell about a device's transport: its listeners (config) and its log (pure).

Mosquitto 2.0 logs, per connection, ``New connection from ADDR:PORT on port N.`` when it
accepts the socket (before the TLS handshake) and ``New client connected from ADDR:PORT
as ID (p2, c1, k60, u'USER').`` once it accepted the CONNECT; the two are matched by the
client's address and source port. It logs neither the TLS version nor the cipher, so
whether a connection used TLS, and whether a client certificate was required, follows
from the listener's settings in mosquitto.conf.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from circulo.errors import ConfigError

LOG_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # log_timestamp_format of deploy/mosquitto/mosquitto.conf
NEW_CONNECTION = re.compile(r"^(?P<ts>\S+): New connection from (?P<peer>\S+) on port (?P<port>\d+)\.$")
NEW_CLIENT = re.compile(
    r"^(?P<ts>\S+): New client connected from (?P<peer>\S+) as (?P<client>\S+) "
    r"\(p\d+, c\d+, k\d+(?:, u'(?P<user>[^']*)')?\)\.$"
)


@dataclass(frozen=True)
class Listener:
    """One listener of the broker's config."""

    port: int
    tls: bool
    certificate_required: bool
    bind: str = ""


@dataclass(frozen=True)
class Connection:
    """A device's connection as the log shows it."""

    username: str
    port: int
    at: datetime | None
    peer: str


def listeners(conf_text: str) -> dict[int, Listener]:
    """Every listener of a mosquitto.conf: TLS when it has a certfile; whether it requires a certificate."""
    found: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in conf_text.splitlines():
        key, _, value = raw.strip().partition(" ")
        if key == "listener":
            parts = value.split()
            current = found.setdefault(int(parts[0]), {"bind": parts[1] if len(parts) > 1 else ""})
        elif current is not None and key in ("certfile", "require_certificate"):
            current[key] = value.strip()
    return {
        port: Listener(port, "certfile" in opts, opts.get("require_certificate") == "true", opts["bind"])
        for port, opts in found.items()
    }


def log_time(text: str) -> datetime | None:
    """A log line's time (with its UTC offset); None for another timestamp format."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")  # LOG_TIME_FORMAT
    except ValueError:
        return None


def last_connections(lines: Iterable[str]) -> dict[str, Connection]:
    """The last connection of each username, in log order (a later line wins)."""
    port_of_peer: dict[str, int] = {}
    latest: dict[str, Connection] = {}
    for line in lines:
        if (opened := NEW_CONNECTION.match(line)) is not None:
            port_of_peer[opened["peer"]] = int(opened["port"])
        elif (client := NEW_CLIENT.match(line)) is not None and client["user"]:
            port = port_of_peer.pop(client["peer"], None)
            if port is not None:
                user = client["user"]
                latest[user] = Connection(user, port, log_time(client["ts"]), client["peer"])
    return latest


@dataclass(frozen=True)
class Transport:
    """How a device last reached the broker, judged by the listener it used."""

    connection: Connection
    listener: Listener | None

    @property
    def tls(self) -> bool | None:
        return None if self.listener is None else self.listener.tls

    @property
    def certificate_required(self) -> bool | None:
        return None if self.listener is None else self.listener.certificate_required

    def words(self) -> str:
        """``TLS, client certificate required`` and the like."""
        if self.listener is None:
            return f"port {self.connection.port} (not a listener of the broker's config)"
        if not self.listener.tls:
            return f"plaintext on port {self.connection.port}"
        required = "required" if self.listener.certificate_required else "not required"
        return f"TLS on port {self.connection.port}, client certificate {required}"

    def as_dict(self) -> dict[str, object]:
        return {
            "port": self.connection.port,
            "tls": self.tls,
            "certificate_required": self.certificate_required,
            "at": self.connection.at,
        }


def transport_of(
    username: str, connections: Mapping[str, Connection], config: Mapping[int, Listener]
) -> Transport | None:
    """The device's last transport (None when the log has no connection of it)."""
    connection = connections.get(username)
    if connection is None:
        return None
    return Transport(connection, config.get(connection.port))


# --- reading the files (the thin shell) -----------------------------------------------------------
TAIL_BYTES = 32 * 1024 * 1024  # the newest 32 MiB: days of connection lines for a large fleet


@dataclass(frozen=True)
class BrokerView:
    """The broker's listeners and each username's last connection, read once."""

    listeners: Mapping[int, Listener]
    connections: Mapping[str, Connection]

    def transport(self, username: str) -> Transport | None:
        return transport_of(username, self.connections, self.listeners)


def read_tail(path: Path, limit: int = TAIL_BYTES) -> list[str]:
    """The last ``limit`` bytes of a log, as whole lines."""
    with path.open("rb") as log:
        size = log.seek(0, os.SEEK_END)
        log.seek(max(0, size - limit))
        data = log.read()
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[1:] if size > limit else lines  # the first line may be cut


def broker_view(log_file: str | None, config_file: str | None) -> BrokerView | None:
    """What the broker's log and config say (None when no log is configured)."""
    if not log_file:
        return None
    try:
        lines = read_tail(Path(log_file))
        config = listeners(Path(config_file).read_text(encoding="utf-8")) if config_file else {}
    except OSError as e:
        raise ConfigError(f"broker log or config: {e.filename}: {e.strerror or e}") from e
    return BrokerView(config, last_connections(lines))
