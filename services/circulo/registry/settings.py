"""The registry's settings: database, broker admin, the broker as devices reach it, and the PKI.

The broker admin URL carries the dynamic-security admin secret, so it is read from the
environment (``CIRCULO_BROKER_ADMIN_URL``) or the config file, never from a default.

Devices are given ``device_broker_url`` (the TLS device listener, port 8883), never the
services' listener: that one asks for no client certificate. A plaintext device URL is
refused unless ``allow_plaintext_devices`` is set for a migration window (SPEC §9).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from circulo.errors import ConfigError
from circulo.pki.settings import BrokerReloadSettings, PkiSettings
from circulo.settings import MqttEndpoint

ADMIN_URL_HINT = (
    "set CIRCULO_BROKER_ADMIN_URL=mqtts://admin:secret@host:8884?cafile=… (or broker_admin_url in [registry])"
)
DEVICE_URL_HINT = "set device_broker_url (CIRCULO_DEVICE_BROKER_URL), e.g. mqtts://broker.example.org:8883"


class RegistrySettings(BrokerReloadSettings):
    """Where the registry lives (database), how it reaches the broker, and what devices are given.

    Inherits the PKI and broker-reload keys (``pki_dir``, ``broker_pid_file``, …).
    """

    database_url: str = "postgresql://localhost:5432/circulo"
    mqtt_url: str = "mqtts://localhost:8884"
    # mosquitto: the registry drives its dynamic security (and keeps EMQX's hashes too);
    # emqx: EMQX reads the registry's views, so the database is the whole broker step
    broker: Literal["mosquitto", "emqx"] = "mosquitto"
    # mqtts://admin:secret@host:port of the dynamic-security admin client (kept out of reprs)
    broker_admin_url: str | None = Field(default=None, repr=False)
    # the broker as devices reach it: host/port/TLS written into provisioning bundles
    device_broker_url: str | None = None
    allow_plaintext_devices: bool = False
    # where bundles go by default; `device check` warns while one is left after commissioning
    bundle_dir: str | None = None
    # the broker's mosquitto.conf: which listener is TLS, which requires a client certificate
    broker_config_file: str | None = None
    device_cert_days: int = Field(default=1095, ge=1)
    log_level: str = "WARNING"

    def admin_endpoint(self) -> MqttEndpoint:
        """The broker admin endpoint, or a ConfigError saying how to set it."""
        if not self.broker_admin_url:
            raise ConfigError(f"no broker admin URL: {ADMIN_URL_HINT}")
        endpoint = MqttEndpoint.from_url(self.broker_admin_url)
        if not endpoint.username or not endpoint.password:
            raise ConfigError(f"broker admin URL has no user and password: {ADMIN_URL_HINT}")
        return endpoint

    def device_endpoint(self) -> MqttEndpoint:
        """The broker host, port and TLS flag written into device bundles (no credentials)."""
        if not self.device_broker_url:
            raise ConfigError(f"no broker address for devices: {DEVICE_URL_HINT}")
        endpoint = MqttEndpoint.from_url(self.device_broker_url)
        if not endpoint.tls and not self.allow_plaintext_devices:
            raise ConfigError(
                "device_broker_url is plaintext: devices reach the broker only over TLS (mqtts://…:8883); "
                "allow_plaintext_devices is for a migration window only"
            )
        return MqttEndpoint(endpoint.host, endpoint.port, endpoint.tls, None, None)

    def pki_settings(self) -> PkiSettings | None:
        """The PKI's settings as the registry uses them (None when no ``pki_dir`` is set)."""
        if not self.pki_dir:
            return None
        return PkiSettings(
            pki_dir=self.pki_dir,
            broker_pid_file=self.broker_pid_file,
            broker_reload_command=self.broker_reload_command,
            broker_log_file=self.broker_log_file,
            broker_group=self.broker_group,
            database_url=self.database_url,
            device_days=self.device_cert_days,
        )
