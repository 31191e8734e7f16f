"""A Mosquitto broker running the project's own config (deploy/mosquitto) on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from circulo.errors import ServiceUnavailable
from circulo.localstack.procs import chown_tree, is_root, open_path_for, port_open, run, wait_until

MOSQUITTO_USER = "mosquitto"
DYNSEC_PLUGIN_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/mosquitto_dynamic_security.so"),
)
# Lines of deploy/mosquitto/mosquitto.conf the local stack replaces (marked LOCAL there).
LOCAL_KEYS = ("listener", "plugin", "plugin_opt_config_file", "persistence_location", "log_dest")


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


def render_local_config(base: str, *, port: int, state_dir: Path) -> str:
    """The production config with its LOCAL lines pointed at ``state_dir`` and ``port``."""
    local = {
        "listener": f"listener {port} 127.0.0.1",
        "plugin": f"plugin {dynsec_plugin()}",
        "plugin_opt_config_file": f"plugin_opt_config_file {state_dir / 'dynamic-security.json'}",
        "persistence_location": f"persistence_location {state_dir}/",
        "log_dest": f"log_dest file {state_dir / 'mosquitto.log'}",
    }
    lines = []
    for line in base.splitlines():
        key = line.split(" ", 1)[0]
        lines.append(local.get(key, line))
    return "\n".join(lines) + "\n"


@dataclass
class MosquittoBroker:
    """A broker whose state (persistence, dynamic-security file, log) lives in ``state_dir``."""

    state_dir: Path
    port: int
    admin_username: str = "circulo-admin"
    admin_password: str = field(default="", repr=False)
    config_path: Path = field(default_factory=lambda: deploy_dir() / "mosquitto" / "mosquitto.conf")
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def conf_file(self) -> Path:
        return self.state_dir / "mosquitto.conf"

    @property
    def dynsec_file(self) -> Path:
        return self.state_dir / "dynamic-security.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "mosquitto.log"

    def url(self, username: str | None = None, password: str | None = None) -> str:
        auth = f"{username}:{password}@" if username else ""
        return f"mqtt://{auth}127.0.0.1:{self.port}"

    def prepare(self) -> None:
        """Write the config, and initialise dynamic security with the admin client once."""
        if not self.admin_password:
            raise ServiceUnavailable("mosquitto: an admin password is required")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        open_path_for(self.state_dir)
        base = self.config_path.read_text(encoding="utf-8")
        self.conf_file.write_text(render_local_config(base, port=self.port, state_dir=self.state_dir))
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
        return port_open(self.port)

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
