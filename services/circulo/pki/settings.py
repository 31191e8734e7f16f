"""Settings of the PKI and of how the broker is told about a new CRL or certificate.

Shared keys live at the top level of the config file (the registry reads them too):
``pki_dir``, ``broker_pid_file``, ``broker_reload_command``, ``broker_log_file``,
``broker_group``; validity and renewal periods in ``[pki]``. Environment: ``CIRCULO_PKI_DIR``…
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from circulo.errors import ConfigError
from circulo.pki.health import Margins
from circulo.pki.layout import PkiLayout


class BrokerReloadSettings(BaseModel):
    """How the broker learns that its certificate files changed (SIGHUP re-reads them, SPEC §9).

    ``broker_pid_file``: send SIGHUP to the pid in it (Mosquitto's ``pid_file``; the local
    stack's). ``broker_reload_command``: run it instead (``systemctl reload mosquitto``).
    Neither: only the files change (the compose broker's entrypoint watches them).
    ``broker_log_file``: when set, wait until the broker logs that it reloaded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pki_dir: str | None = None
    broker_pid_file: str | None = None
    broker_reload_command: str | None = None
    broker_log_file: str | None = None
    # group that may read the broker's key in broker/ (the mosquitto user's); None: the owner only
    broker_group: str | None = None

    def layout(self) -> PkiLayout:
        """The PKI directory, or a ConfigError saying how to set it."""
        if not self.pki_dir:
            raise ConfigError("no PKI directory: set pki_dir (CIRCULO_PKI_DIR), then `circulo pki init`")
        return PkiLayout(Path(self.pki_dir))


class PkiSettings(BrokerReloadSettings):
    """``circulo pki``: validity periods, renewal margins, and the database the facts are mirrored to."""

    database_url: str | None = None
    log_level: str = "WARNING"
    root_days: int = Field(default=7300, ge=1)  # 20 years: the root is re-made only with its devices
    issuing_days: int = Field(default=1825, ge=1)
    server_days: int = Field(default=397, ge=1)  # what browsers' CAs may issue at most
    device_days: int = Field(default=1095, ge=1)  # each renewal is a visit to the device
    crl_days: int = Field(default=7, ge=1)
    crl_renew_after_hours: int = Field(default=24, ge=1)
    renew_before_days: int = Field(default=30, ge=1)

    def margins(self) -> Margins:
        """When a certificate or the CRL is due."""
        return Margins(timedelta(days=self.renew_before_days), timedelta(hours=self.crl_renew_after_hours))
