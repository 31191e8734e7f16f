"""deploy/mosquitto/entrypoint.sh initialises dynamic security once, then runs the broker command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "entrypoint.sh"


TEST_SECRET = "s3cret"  # a throwaway test password


def run(
    data_dir: Path, *command: str, password: str | None = TEST_SECRET
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "MOSQUITTO_DATA_DIR": str(data_dir), "MOSQUITTO_ADMIN_USER": "boss"}
    if password is not None:
        env["MOSQUITTO_ADMIN_PASSWORD"] = password
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command], env=env, capture_output=True, text=True, check=False
    )


def test_the_first_start_creates_the_admin_client_and_runs_the_command(tmp_path: Path) -> None:
    result = run(tmp_path, "echo", "broker started")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("broker started")
    dynsec = json.loads((tmp_path / "dynamic-security.json").read_text())
    assert [client["username"] for client in dynsec["clients"]] == ["boss"]
    assert oct((tmp_path / "dynamic-security.json").stat().st_mode & 0o777) == "0o600"


def test_a_restart_keeps_the_existing_dynamic_security_file(tmp_path: Path) -> None:
    run(tmp_path, "true")
    first = (tmp_path / "dynamic-security.json").read_bytes()
    result = run(tmp_path, "true", password="another")
    assert result.returncode == 0
    assert (tmp_path / "dynamic-security.json").read_bytes() == first


def test_without_an_admin_password_the_first_start_refuses(tmp_path: Path) -> None:
    result = run(tmp_path, "true", password=None)
    assert result.returncode == 1
    assert "MOSQUITTO_ADMIN_PASSWORD is not set" in result.stderr


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_script_parses_in_posix_shells(shell: str) -> None:
    assert subprocess.run([shell, "-n", str(ENTRYPOINT)], check=False).returncode == 0
