"""Build the dashboards' JSON, write it for provisioning, and tell when the committed copy is stale."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from circulo.dashboards.boards import energy, fleet, pipeline, recycling
from circulo.dashboards.boards.common import encode
from circulo.errors import CirculoError

# uid -> the function that builds it, in the order the folder lists them.
BOARDS: dict[str, Callable[[], Dashboard]] = {
    energy.UID: energy.dashboard,
    recycling.UID: recycling.dashboard,
    fleet.UID: fleet.dashboard,
    pipeline.UID: pipeline.dashboard,
}
DEFAULT_OUT_DIR = Path("deploy/grafana/dashboards")


def render_all() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by uid."""
    return {uid: encode(build()) for uid, build in BOARDS.items()}


def to_text(model: dict[str, Any]) -> str:
    """The canonical file form: sorted keys, two-space indent, final newline."""
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(uid: str) -> str:
    """``<uid>.json``."""
    return f"{uid}.json"


def write_all(out_dir: Path) -> list[Path]:
    """Write every dashboard to ``out_dir``; returns the files written or rewritten."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for uid, model in render_all().items():
            path = out_dir / file_name(uid)
            text = to_text(model)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                written.append(path)
        return written
    except OSError as e:
        raise CirculoError(f"cannot write dashboards to {out_dir}: {e}") from e


def stale_files(out_dir: Path) -> list[str]:
    """Dashboards whose file in ``out_dir`` is missing or differs from a fresh build."""
    stale = []
    for uid, model in render_all().items():
        path = out_dir / file_name(uid)
        if not path.is_file() or path.read_text(encoding="utf-8") != to_text(model):
            stale.append(file_name(uid))
    return stale
