"""The ingest's settings (one frozen object, built in main and passed down)."""

from __future__ import annotations

import socket

from pydantic import BaseModel, ConfigDict, Field


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
