"""Structured logging for the simulator: structlog, configured by whoever runs it.

``circulo sim run`` configures structlog once (JSON lines for a daemon, pretty on a
terminal); run from another program, the simulator logs with that program's structlog set-up.
"""

from __future__ import annotations

from typing import Any

import structlog


def get_logger(name: str) -> Any:
    """A logger bound to a component name."""
    return structlog.get_logger(component=name)
