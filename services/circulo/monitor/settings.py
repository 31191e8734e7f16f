"""The monitor's settings (``[monitor]``): where to sample, how often, how long samples are kept."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from circulo.settings import CommonSettings, MqttEndpoint


class MonitorSettings(CommonSettings):
    """Database and broker (an account whose role may read ``$SYS/broker/#``), cadence, retention."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_s: Annotated[float, Field(gt=0)] = 60.0
    retention_days: Annotated[int, Field(ge=1)] = 7
    # how long to wait for the broker's SYS-topic values (Mosquitto publishes every 10 s)
    sys_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    broker_name: str | None = None
    # /healthz (and /metrics) for container health checks; 0 turns them off
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9110

    def broker_label(self) -> str:
        """The broker's name in the samples (default: host:port of mqtt_url)."""
        if self.broker_name:
            return self.broker_name
        endpoint = MqttEndpoint.from_url(self.mqtt_url)
        return f"{endpoint.host}:{endpoint.port}"
