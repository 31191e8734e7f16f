"""The simulator's settings: ``[sim]`` in the config file, ``CIRCULO_*`` in the environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SimSettings(BaseModel):
    """Connection and behaviour settings of ``circulo sim run`` (run parameters are flags)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "postgresql://localhost:5432/circulo"
    mqtt_url: str = "mqtts://localhost:8884"
    log_level: str = "INFO"
    bundles_dir: str | None = None
    # mutual TLS: {dir}/{device_id}.passphrase decrypts each bundle's key (delivered apart from it)
    passphrases_dir: str | None = None
    # per connection: PUBACKs outstanding at most, and the store-and-forward bound
    inflight: int = Field(default=100, ge=1, le=65535)
    buffer_max: int = Field(default=10_000, ge=1)
    connections: int = Field(default=4, ge=1, le=1000)  # bulk mode
    keepalive_s: int = Field(default=30, ge=5)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=15.0, ge=0)
    drain_timeout_s: float = Field(default=120.0, ge=0)
    # replay (SPEC §11), per-device mode, circulo devices: the data messages each keeps (SPEC:
    # at least 2,000; fewer only for tests), how fast it republishes (messages/s), how long the
    # broker queues commands while it is away, where its boot epoch survives a run (default:
    # {bundles_dir}-state), and the seq each boot starts from (near 2^32 to test the wrap)
    replay_buffer: int = Field(default=2000, ge=1)
    replay_rate: float = Field(default=20.0, gt=0)
    command_session_s: int = Field(default=3600, ge=0, le=2**32 - 1)
    state_dir: str | None = None
    seq_start: int = Field(default=0, ge=0, le=2**32 - 1)
    # a PUBACK 0x10 (no matching subscribers) means not delivered: keep the message, send it
    # again (off only to run devices against a broker nobody reads from)
    resend_unheard: bool = True
    # after the last message and the drain, stay connected this long to answer replay commands
    replay_linger_s: float = Field(default=0.0, ge=0)
