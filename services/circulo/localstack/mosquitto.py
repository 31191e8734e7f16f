"""A Mosquitto broker running the project's own config (deploy/mosquitto) on free ports, over TLS."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from circulo.errors import ServiceUnavailable
from circulo.localstack.procs import chown_tree, free_port, is_root, open_path_for, port_open, run, wait_until
from circulo.pki.reload import reload_broker
from circulo.pki.settings import BrokerReloadSettings

MOSQUITTO_USER = "mosquitto"
DYNSEC_PLUGIN_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/mosquitto_dynamic_security.so"),
)
# The production listeners by port, and the role each plays in the local stack.
LISTENER_ROLES = {"8883": "devices", "8884": "services", "1883": "plain"}
MIGRATION_MARK = "#MIGRATION# "
CERT_KEYS = ("certfile", "keyfile", "cafile", "crlfile")


def deploy_dir() -> Path:
    """The project's deploy/ folder (CIRCULO_DEPLOY_DIR overrides, for installed copies)."""
    override = os.environ.get("CIRCULO_DEPLOY_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "deploy"


def dynsec_plugin() -> Path:
    """The dynamic-security plugin of the installed Mosquitto."""
    for path in DYNSEC_PLUGIN_PATHS:
        if path.is_file():
            return path
    raise ServiceUnavailable("mosquitto_dynamic_security.so not found (is the mosquitto package installed?)")


@dataclass(frozen=True)
class BrokerTls:
    """The broker's certificate files (a PKI's ``broker/`` folder) and what clients trust.

    ``mutual_tls``: the device listener requires a client certificate (``require_certificate``).
    """

    certs_dir: Path
    cafile: Path
    mutual_tls: bool = False


@dataclass(frozen=True)
class LocalConfig:
    """What the local stack puts in place of the production config's LOCAL lines."""

    ports: Mapping[str, int]  # role (LISTENER_ROLES) -> port; no "plain": the migration block stays off
    state_dir: Path
    tls: BrokerTls


def render_local_config(base: str, local: LocalConfig) -> str:
    """The production config with its LOCAL lines pointed at the state folder, free ports and certs."""
    return "\n".join(_local_line(line, local) for line in base.splitlines()) + "\n"


def _local_line(line: str, local: LocalConfig) -> str:
    if line.startswith(MIGRATION_MARK) and "plain" in local.ports:
        line = line[len(MIGRATION_MARK) :]
    key, _, rest = line.partition(" ")
    state = local.state_dir
    if key == "listener":
        return f"listener {local.ports[LISTENER_ROLES[rest.split()[0]]]} 127.0.0.1"
    if key in CERT_KEYS:
        return f"{key} {local.tls.certs_dir / Path(rest).name}"
    if key == "require_certificate":
        return f"require_certificate {'true' if local.tls.mutual_tls else 'false'}"
    if key == "log_dest" and rest.startswith("file "):
        return f"log_dest file {state / 'mosquitto.log'}"
    replaced = {
        "plugin": f"plugin {dynsec_plugin()}",
        "plugin_opt_config_file": f"plugin_opt_config_file {state / 'dynamic-security.json'}",
        "persistence_location": f"persistence_location {state}/",
        "pid_file": f"pid_file {state / 'mosquitto.pid'}",
    }
    return replaced.get(key, line)


@dataclass
class MosquittoBroker:
    """A broker whose state (persistence, dynamic-security file, log) lives in ``state_dir``.

    It runs the production listeners on free loopback ports: ``port`` is the device listener
    (TLS, a client certificate required when ``tls.mutual_tls``), ``service_port`` the
    services' (TLS), and ``plain_port``, when given, the migration window's plaintext one.
    """

    state_dir: Path
    port: int
    tls: BrokerTls
    admin_username: str = "circulo-admin"
    admin_password: str = field(default="", repr=False)
    service_port: int = 0
    plain_port: int | None = None
    config_path: Path = field(default_factory=lambda: deploy_dir() / "mosquitto" / "mosquitto.conf")
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.service_port:
            self.service_port = free_port()

    @property
    def conf_file(self) -> Path:
        return self.state_dir / "mosquitto.conf"

    @property
    def dynsec_file(self) -> Path:
        return self.state_dir / "dynamic-security.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "mosquitto.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "mosquitto.pid"

    @property
    def ports(self) -> dict[str, int]:
        """Each listener's port by role."""
        ports = {"devices": self.port, "services": self.service_port}
        return ports | ({"plain": self.plain_port} if self.plain_port else {})

    def url(
        self, username: str | None = None, password: str | None = None, *, listener: str = "services"
    ) -> str:
        """A client URL for a listener: ``mqtts://…?cafile=`` (``mqtt://`` for ``plain``)."""
        auth = f"{username}:{password}@" if username else ""
        if listener == "plain":
            return f"mqtt://{auth}127.0.0.1:{self.plain_port}"
        return f"mqtts://{auth}127.0.0.1:{self.ports[listener]}?cafile={self.tls.cafile}"

    def reload_settings(self) -> BrokerReloadSettings:
        """How ``circulo pki`` and the registry reload this broker (SIGHUP, then its log line)."""
        return BrokerReloadSettings(broker_pid_file=str(self.pid_file), broker_log_file=str(self.log_file))

    def reload(self) -> None:
        """SIGHUP: re-read certificates and the CRL (see circulo.pki.reload); returns once done."""
        reload_broker(self.reload_settings())

    def prepare(self) -> None:
        """Write the config, and initialise dynamic security with the admin client once."""
        if not self.admin_password:
            raise ServiceUnavailable("mosquitto: an admin password is required")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        open_path_for(self.state_dir)
        base = self.config_path.read_text(encoding="utf-8")
        local = LocalConfig(self.ports, self.state_dir, self.tls)
        self.conf_file.write_text(render_local_config(base, local))
        if not self.dynsec_file.exists():
            ctrl = shutil.which("mosquitto_ctrl") or "/usr/bin/mosquitto_ctrl"
            run(
                [ctrl, "dynsec", "init", str(self.dynsec_file), self.admin_username, self.admin_password],
                what="mosquitto_ctrl dynsec init",
            )
        if is_root():
            chown_tree(self.state_dir, MOSQUITTO_USER)
        self.dynsec_file.chmod(0o600)  # salted password hashes: the broker's eyes only

    def start(self, timeout: float = 15) -> None:
        """Start the broker in the foreground of a child process and wait for its port."""
        self.prepare()
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        # config errors go to stderr before the log file is open
        with (self.state_dir / "mosquitto.stderr").open("ab") as stderr:
            self._process = subprocess.Popen(
                [mosquitto, "-c", str(self.conf_file)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        try:
            wait_until(
                self._ready, timeout=timeout, what=f"mosquitto on port {self.port} (log {self.log_file})"
            )
        except ServiceUnavailable:
            self.kill()
            raise

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            stderr = (self.state_dir / "mosquitto.stderr").read_text(errors="replace").strip()
            detail = stderr.splitlines()[-1] if stderr else f"see {self.log_file}"
            raise ServiceUnavailable(f"mosquitto exited with {self._process.returncode}: {detail}")
        return all(port_open(port) for port in self.ports.values())

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None and port_open(self.port)

    def stop(self, timeout: float = 15) -> None:
        """Graceful stop (SIGTERM): Mosquitto writes its persistence file before exiting."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: a broker crash; what arrived since the last autosave is lost."""
        self._signal(signal.SIGKILL, 10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        with contextlib.suppress(ServiceUnavailable):
            wait_until(lambda: not port_open(self.port), timeout=5, what="mosquitto port to close")
