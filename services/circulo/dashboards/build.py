"""Build the dashboards' JSON and the alerting provisioning files, write them, tell when they are stale."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from circulo.dashboards import alerts, lint
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
DEFAULT_ALERTS_DIR = Path("deploy/grafana/provisioning/alerting")


def render_all() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by uid."""
    return {uid: encode(build()) for uid, build in BOARDS.items()}


def panel_ids(models: dict[str, dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(dashboard uid, panel title) -> panel id, for linking alert rules to their panels."""
    return {
        (uid, panel["title"]): panel["id"] for uid, model in models.items() for panel in lint.panels(model)
    }


def render_alerting() -> dict[str, dict[str, Any]]:
    """Every alerting provisioning file, by file name."""
    return alerts.render_files(panel_ids(render_all()))


def to_text(model: dict[str, Any]) -> str:
    """The canonical file form: sorted keys, two-space indent, final newline."""
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(uid: str) -> str:
    """``<uid>.json``."""
    return f"{uid}.json"


def wanted_files(out_dir: Path, alerts_dir: Path) -> dict[Path, str]:
    """Every generated file and its text."""
    files = {out_dir / file_name(uid): to_text(model) for uid, model in render_all().items()}
    files.update({alerts_dir / name: to_text(doc) for name, doc in render_alerting().items()})
    return files


def write_all(out_dir: Path, alerts_dir: Path = DEFAULT_ALERTS_DIR) -> list[Path]:
    """Write every dashboard and alerting file; returns the files written or rewritten."""
    try:
        written = []
        for path, text in wanted_files(out_dir, alerts_dir).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                written.append(path)
        return written
    except OSError as e:
        raise CirculoError(f"cannot write dashboards to {out_dir} or alerts to {alerts_dir}: {e}") from e


def stale_files(out_dir: Path, alerts_dir: Path = DEFAULT_ALERTS_DIR) -> list[str]:
    """Generated files that are missing or differ from a fresh build."""
    return [
        str(path) if path.parent == alerts_dir else path.name
        for path, text in wanted_files(out_dir, alerts_dir).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
