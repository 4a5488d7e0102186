"""Cold start of a catalog-only recommendation against a bare import of its libraries.

Runs `selector recommend examples/server-strict-license.toml --no-smoke --format json` and
`python -c "import typer, pydantic, rich, psutil"` alternately, N times each, and prints the
medians and their ratio. Goal: at most 1.5x (llama_cpp and other heavy imports stay out of
the catalog-only path).

    .venv/bin/python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECTOR = [sys.executable, "-m", "selector"]
RECOMMEND = [
    *SELECTOR,
    "recommend",
    str(ROOT / "examples" / "server-strict-license.toml"),
    "--no-smoke",
    "--format",
    "json",
]
BASELINE = [sys.executable, "-c", "import typer, pydantic, rich, psutil"]
# `import pydantic` and `import rich` are lazy: nothing is loaded until a class is used. This
# second reference loads what any pydantic + rich CLI pays for before its own code runs.
FLOOR = [
    sys.executable,
    "-c",
    "import typer, psutil; from pydantic import BaseModel; from rich.console import Console",
]


# Installed packages run from bytecode (pip compiles at install; an editable install writes
# .pyc on first import). Where PYTHONDONTWRITEBYTECODE is set (this sandbox sets it), the
# package would be recompiled on every run, so the bench compiles it once and lets Python
# use the bytecode, as a user's install does.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], ok_codes: tuple[int, ...]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "selector", quiet=1)
    timed(RECOMMEND, (0, 1))  # warm the OS file cache and .pyc files for both sides
    timed(BASELINE, (0,))
    ours, base, floor = [], [], []
    for _ in range(args.runs):
        ours.append(timed(RECOMMEND, (0, 1)))
        base.append(timed(BASELINE, (0,)))
        floor.append(timed(FLOOR, (0,)))
    m_ours, m_base, m_floor = (statistics.median(x) for x in (ours, base, floor))
    print(f"baseline  import typer, pydantic, rich, psutil : median {m_base * 1000:7.1f} ms")
    print(
        f"floor     + BaseModel and rich Console loaded  : median {m_floor * 1000:7.1f} ms"
        f"  ({m_floor / m_base:.2f}x baseline)"
    )
    print(f"selector  recommend --no-smoke --format json  : median {m_ours * 1000:7.1f} ms")
    print(
        f"ratio {m_ours / m_base:.2f}x baseline (goal <= 1.5x), {m_ours / m_floor:.2f}x floor; "
        f"{args.runs} runs each, alternating"
    )


if __name__ == "__main__":
    main()
