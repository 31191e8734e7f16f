"""deploy/mosquitto/entrypoint.sh: dynamic security once, the TLS files installed, the broker run
and reloaded (SIGHUP) when the PKI publishes new TLS files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "entrypoint.sh"


TEST_SECRET = "s3cret"  # a throwaway test password


TLS_FILES = ("server.pem", "server.key", "clients-ca.pem", "crl.pem")


def pki_broker_folder(root: Path) -> Path:
    """What `circulo pki` publishes for the broker (contents do not matter to the entrypoint)."""
    source = root / "pki-broker"
    source.mkdir(exist_ok=True)
    for name in TLS_FILES:
        (source / name).write_text(f"{name} v1\n")
    return source


def entrypoint_env(data_dir: Path, password: str | None = TEST_SECRET, **extra: str) -> dict[str, str]:
    root = data_dir.parent
    env = {
        "PATH": os.environ["PATH"],
        "MOSQUITTO_DATA_DIR": str(data_dir),
        "MOSQUITTO_ADMIN_USER": "boss",
        "MOSQUITTO_CERTS_SOURCE": str(root / "pki-broker"),
        "MOSQUITTO_CERTS_DIR": str(root / "certs"),
        "MOSQUITTO_LOG_DIR": str(root / "log"),
        **extra,
    }
    if password is not None:
        env["MOSQUITTO_ADMIN_PASSWORD"] = password
    return env


def run(
    data_dir: Path, *command: str, password: str | None = TEST_SECRET
) -> subprocess.CompletedProcess[str]:
    if not (data_dir.parent / "pki-broker").exists():
        pki_broker_folder(data_dir.parent)
    env = entrypoint_env(data_dir, password)
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command], env=env, capture_output=True, text=True, check=False
    )


def test_the_first_start_creates_the_admin_client_and_runs_the_command(tmp_path: Path) -> None:
    tmp_path = tmp_path / "data"
    result = run(tmp_path, "echo", "broker started")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("broker started")
    dynsec = json.loads((tmp_path / "dynamic-security.json").read_text())
    assert [client["username"] for client in dynsec["clients"]] == ["boss"]
    assert oct((tmp_path / "dynamic-security.json").stat().st_mode & 0o777) == "0o600"


def test_a_restart_keeps_the_existing_dynamic_security_file(tmp_path: Path) -> None:
    tmp_path = tmp_path / "data"
    run(tmp_path, "true")
    first = (tmp_path / "dynamic-security.json").read_bytes()
    result = run(tmp_path, "true", password="another")
    assert result.returncode == 0
    assert (tmp_path / "dynamic-security.json").read_bytes() == first


def test_without_an_admin_password_the_first_start_refuses(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "true", password=None)
    assert result.returncode == 1
    assert "MOSQUITTO_ADMIN_PASSWORD is not set" in result.stderr


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_script_parses_in_posix_shells(shell: str) -> None:
    assert subprocess.run([shell, "-n", str(ENTRYPOINT)], check=False).returncode == 0


def test_the_tls_files_are_installed_private_and_the_broker_exit_status_is_passed_on(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "sh", "-c", "exit 7")
    assert result.returncode == 7, result.stderr
    for name in TLS_FILES:
        installed = tmp_path / "certs" / name
        assert installed.read_text() == f"{name} v1\n"
        assert installed.stat().st_mode & 0o777 == 0o600


def test_without_the_pki_files_the_broker_does_not_start(tmp_path: Path) -> None:
    (tmp_path / "pki-broker").mkdir()
    result = run(tmp_path / "data", "echo", "broker started")
    assert result.returncode == 1
    assert "no " in result.stderr and "circulo pki init" in result.stderr
    assert "broker started" not in result.stdout


def default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_a_new_crl_is_installed_and_the_broker_gets_sighup(tmp_path: Path) -> None:
    source = pki_broker_folder(tmp_path)
    hups = tmp_path / "hups"
    ready = tmp_path / "ready"
    broker = (
        f'trap "echo hup >> {hups}" HUP; touch {ready}; while [ ! -e {tmp_path}/stop ]; do sleep 0.1; done'
    )
    env = entrypoint_env(tmp_path / "data", MOSQUITTO_CERTS_WATCH_S="0.2")
    # a shell cannot trap a signal ignored when it started (POSIX), as SIGHUP is under nohup
    process = subprocess.Popen(["sh", str(ENTRYPOINT), "sh", "-c", broker], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=default_sighup)  # noqa: PLW1509  # fmt: skip
    try:
        # the broker's trap is set (so the watcher loop runs): only a change made after it counts
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the entrypoint never started the broker"
        time.sleep(0.6)  # three watch periods
        assert not hups.exists(), "no change, no reload"
        (source / "crl.pem").write_text("crl.pem v2\n")
        deadline = time.monotonic() + 60  # a loaded CI machine: the loop ends as soon as it happens
        while not hups.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        installed = (tmp_path / "certs" / "crl.pem").read_text()
        assert hups.exists(), f"no SIGHUP within 60 s; installed CRL: {installed!r}"
        assert hups.read_text() == "hup\n"
        assert (tmp_path / "certs" / "crl.pem").read_text() == "crl.pem v2\n"
    finally:
        (tmp_path / "stop").touch()
        process.wait(10)
