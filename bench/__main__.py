"""``python -m bench``: run every benchmark module in turn (bench/bench_*.py)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

here = Path(__file__).parent
selected = sys.argv[1:] or sorted(p.stem for p in here.glob("bench_*.py"))
for name in selected:
    print(f"\n===== {name} =====", flush=True)
    runpy.run_path(str(here / f"{name.removesuffix('.py')}.py"), run_name="__main__")
