"""The registry's settings: database, broker admin and the broker address devices are given.

The broker admin URL carries the dynamic-security admin secret, so it is read from the
environment (``CIRCULO_BROKER_ADMIN_URL``) or the config file, never from a default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from circulo.errors import ConfigError
from circulo.settings import MqttEndpoint

ADMIN_URL_HINT = (
    "set CIRCULO_BROKER_ADMIN_URL=mqtt://admin:secret@host:port (or broker_admin_url in [registry])"
)


class RegistrySettings(BaseModel):
    """Where the registry lives (database) and how it reaches the broker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "postgresql://localhost:5432/circulo"
    mqtt_url: str = "mqtt://localhost:1883"
    # mqtt://admin:secret@host:port of the dynamic-security admin client (kept out of reprs)
    broker_admin_url: str | None = Field(default=None, repr=False)
    # the broker as devices reach it (host/port/TLS in provisioning bundles); default: mqtt_url's
    device_broker_url: str | None = None
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
        endpoint = MqttEndpoint.from_url(self.device_broker_url or self.mqtt_url)
        return MqttEndpoint(endpoint.host, endpoint.port, endpoint.tls, None, None)
