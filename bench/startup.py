"""Cold start of a catalog-only recommendation against a bare import of its libraries.

Runs `selector recommend examples/server-strict-license.toml --no-smoke --format json` and
`python -c "import typer, pydantic, rich, psutil"` alternately, N times each, and prints the
medians and their ratio. Goal: at most 1.5x (llama_cpp and other heavy imports stay out of
the catalog-only path).

    .venv/bin/python bench/startup.py [--runs 15]
    .venv/bin/python bench/startup.py --phases [--runs 7]   # where the time goes, in-process
"""

from __future__ import annotations

import argparse
import compileall
import json
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
# What any CLI that validates one pydantic model and prints it as JSON pays: the first model
# class builds pydantic's schema machinery and discovers plugins (importlib.metadata).
ONE_MODEL = [
    sys.executable,
    "-c",
    "import typer, psutil\nfrom pydantic import BaseModel\n"
    "class M(BaseModel):\n    x: int = 0\nprint(M(x=1).model_dump_json())",
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


# The same run, step by step in one process, each step timed (docs/architecture.md, "Start-up").
PHASES = r"""
import json, sys, time
times, last = {}, time.perf_counter()
def mark(name):
    global last
    now = time.perf_counter()
    times[name] = times.get(name, 0.0) + (now - last) * 1000
    last = now
import typer, psutil
mark("import typer, psutil (the baseline's)")
import pydantic
class _First(pydantic.BaseModel):
    x: int = 0
mark("pydantic: import, first model class")
import selector.cli as cli
import selector.catalog.cache, selector.hardware, selector.pipeline as pl, selector.provenance
import selector.requirements, selector.weights.artifacts
mark("selector's modules")
import typer.main
typer.main.get_command(cli.app)
mark("typer builds the commands")
from pathlib import Path
from selector.catalog import load_catalog
cat = load_catalog([])
mark("the catalog (cache hit)")
path = Path(sys.argv[1])
req = selector.requirements.load_requirements(path, cat)
hw = selector.hardware.resolve_hardware(req.hardware, cat)
mark("requirements and hardware")
def timed(name):
    inner = getattr(pl, name)
    def step(*args, **kwargs):
        mark("ranking and report")
        out = inner(*args, **kwargs)
        mark({"assess_catalog": "filter and fit", "decide": "decision support",
              "build_provenance": "provenance"}[name])
        return out
    setattr(pl, name, step)
for name in ("assess_catalog", "decide", "build_provenance"):
    timed(name)
report = pl.recommend(req, cat, hw, pl.SmokePlan(enabled=False), requirements_path=path)
mark("ranking and report")
from selector.report.formats import OutputFormat, format_report
format_report(report, OutputFormat.JSON)
mark("ranking and report")
sys.stderr.write(json.dumps(times))
"""


def phases(runs: int) -> None:
    """Median time of each step of the run, each run its own process (a cold start)."""
    example = str(ROOT / "examples" / "server-strict-license.toml")
    timed(RECOMMEND, (0, 1))  # the catalog cache and .pyc files warm, as for the ratio
    steps: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", PHASES, example], capture_output=True, cwd=ROOT, env=ENV
        )
        if proc.returncode:
            sys.exit(proc.stderr.decode()[-2000:])
        for name, ms in json.loads(proc.stderr.decode().splitlines()[-1]).items():
            steps.setdefault(name, []).append(ms)
    total = 0.0
    for name, values in steps.items():
        total += statistics.median(values)
        print(f"{statistics.median(values):7.1f} ms  {name}")
    print(
        f"{total:7.1f} ms  in the process, of {runs} runs (interpreter start and exit not counted)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--phases", action="store_true", help="time each step of the run")
    args = parser.parse_args()
    if args.phases:
        compileall.compile_dir(ROOT / "selector", quiet=1)
        phases(args.runs)
        return
    compileall.compile_dir(ROOT / "selector", quiet=1)
    timed(RECOMMEND, (0, 1))  # warm the OS file cache and .pyc files for both sides
    timed(BASELINE, (0,))
    ours, base, floor, one = [], [], [], []
    for _ in range(args.runs):
        ours.append(timed(RECOMMEND, (0, 1)))
        base.append(timed(BASELINE, (0,)))
        floor.append(timed(FLOOR, (0,)))
        one.append(timed(ONE_MODEL, (0,)))
    m_ours, m_base, m_floor, m_one = (statistics.median(x) for x in (ours, base, floor, one))
    print(f"baseline  import typer, pydantic, rich, psutil : median {m_base * 1000:7.1f} ms")
    print(
        f"floor     + BaseModel and rich Console loaded  : median {m_floor * 1000:7.1f} ms"
        f"  ({m_floor / m_base:.2f}x baseline)"
    )
    print(
        f"one model typer, psutil, a model, its JSON     : median {m_one * 1000:7.1f} ms"
        f"  ({m_one / m_base:.2f}x baseline)"
    )
    print(f"selector  recommend --no-smoke --format json  : median {m_ours * 1000:7.1f} ms")
    print(
        f"ratio {m_ours / m_base:.2f}x baseline (goal <= 1.5x), {m_ours / m_floor:.2f}x floor; "
        f"{args.runs} runs each, alternating"
    )


if __name__ == "__main__":
    main()
