"""The ingest's settings (one frozen object, built in main and passed down)."""

from __future__ import annotations

import socket
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from circulo.ingest.gaps import ReplayPolicy
from circulo_schemas.topics import COMMAND_PREFIX


def default_worker_id() -> str:
    return f"circulo-ingest-{socket.gethostname()}"


class IngestSettings(BaseModel):
    """``[ingest]`` in the config file; ``CIRCULO_*`` in the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "postgresql://localhost:5432/circulo"
    mqtt_url: str = "mqtts://localhost:8884"
    log_level: str = "INFO"
    # The MQTT client id, fixed per worker so the broker session really resumes; also the
    # worker's name in the watermark table.
    worker_id: str = Field(default_factory=default_worker_id, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    shared_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    topic_filter: str = "circulo/v1/#"
    session_expiry_s: int = Field(default=7 * 86400, gt=0)
    keepalive_s: int = Field(default=30, ge=5)
    # Receive Maximum announced to the broker = the bound of the receipt queue.
    queue_max: int = Field(default=10000, ge=1, le=65535)
    batch_max: int = Field(default=2000, ge=1)
    flush_interval_ms: int = Field(default=25, ge=0)
    max_payload_bytes: int = Field(default=8192, ge=64)
    clock_skew_s: int = Field(default=300, ge=0)
    max_age_days: int = Field(default=30, ge=1)
    registry_refresh_s: float = Field(default=5.0, gt=0)
    heartbeat_s: float = Field(default=1.0, gt=0)
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from outside the host
    db_retry_max_s: float = Field(default=10.0, gt=0)
    # The MQTT connection in a receiver process of its own (circulo.ingest.receiver): on by
    # default, it won three of four drains on the 2-core benchmark machine (docs/benchmarks.md).
    receiver_process: bool = True
    # Worker processes of the shared group under one supervisor (``--processes``).
    processes: int = Field(default=1, ge=1, le=64)
    # Replay on request (SPEC §11): gap ranges per device and epoch, and the requests. Off
    # only to measure what the bookkeeping costs (seq loss is then counted the old way).
    replay: bool = True
    replay_after_s: float = Field(default=30.0, ge=0)  # W past the message after a gap + this: ask
    replay_timeout_s: float = Field(default=600.0, gt=0)  # W past it + this: lost for good
    replay_retry_s: float = Field(default=30.0, gt=0)  # first wait before asking again, doubling
    replay_poll_s: float = Field(default=1.0, gt=0)  # how often the requester looks for due gaps

    @field_validator("topic_filter")
    @classmethod
    def _not_the_command_topics(cls, value: str) -> str:
        if reaches_commands(value):
            raise ValueError(f"{value!r} would also receive the device commands under {COMMAND_PREFIX}/")
        return value

    @property
    def replay_policy(self) -> ReplayPolicy | None:
        """The gap bookkeeping's times, or None when replay is off."""
        if not self.replay:
            return None
        return ReplayPolicy(
            replay_after=timedelta(seconds=self.replay_after_s),
            replay_timeout=timedelta(seconds=self.replay_timeout_s),
        )


def reaches_commands(topic_filter: str) -> bool:
    """Whether ``topic_filter`` matches any topic under ``circulo/cmd/`` (``#``, ``+/cmd/#``, …)."""
    levels = topic_filter.split("/")
    for position, wanted in enumerate(COMMAND_PREFIX.split("/")[:2]):  # circulo, cmd
        if position >= len(levels):
            return False
        if levels[position] == "#":
            return True
        if levels[position] not in ("+", wanted):
            return False
    return len(levels) > 2
