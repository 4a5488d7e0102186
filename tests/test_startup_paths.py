"""What a command imports is what it needs (bench/startup.py measures the time): the catalog
commands load no report, smoke, decision or weights code, and a JSON recommendation without
smoke tests loads no smoke command, table, Markdown or Rich."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys
sys.argv = ["selector", *json.loads(sys.argv[1])]
from selector.cli import main
try:
    main()
except SystemExit:
    pass
from pydantic import BaseModel
def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)
built = sorted(f"{m.__module__}.{m.__qualname__}" for m in models(BaseModel)
               if m.__module__.startswith("selector") and m.__pydantic_complete__)
sys.stderr.write("\\n" + json.dumps({"modules": sorted(sys.modules), "built": built}))
"""


def imports(*args: str) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(proc.stderr.rsplit("\n", 1)[-1])


@pytest.mark.parametrize(
    "args", [["catalog", "list", "--format", "json"], ["catalog", "show", "apache-2.0"]]
)
def test_catalog_commands_load_no_report_smoke_decision_or_weights(args: list[str]) -> None:
    loaded = set(imports(*args)["modules"])
    for name in (
        "selector.report.schema",
        "selector.smoke.interface",
        "selector.smoke.cli",
        "selector.decision",
        "selector.pipeline",
        "selector.weights.model",
        "selector.weights.cli",
        "selector.requirements",
    ):
        assert name not in loaded, name


def test_a_json_recommendation_without_smoke_loads_only_what_it_uses() -> None:
    args = ["recommend", "examples/server-strict-license.toml", "--no-smoke", "--format", "json"]
    imports(*args)  # the first run validates the catalog and caches it, as a user's first does
    seen = imports(*args)
    loaded = set(seen["modules"])
    for name in (
        "selector.smoke.cli",  # the `smoke` command
        "selector.weights.cli",  # `models`, `fetch`
        "selector.catalog.checks",  # the catalog comes validated from the cache
        "selector.tables",
        "selector.report.table",
        "selector.report.markdown",
        "selector.lock",
        "rich.console",
        "llama_cpp",
        "httpx",
        "numpy",
        "jsonschema",  # the suite is pinned by its files' bytes, its probes are not loaded
        "selector.smoke.suite",
        "selector.smoke.checkers",  # probe files are parsed only by a smoke run
        "selector.smoke.answers",
    ):
        assert name not in loaded, name
    # models the run does not use are declared with defer_build and never built
    assert "selector.weights.model.LocalWeights" not in seen["built"]
    assert "selector.catalog.schema.ModelEntry" not in seen["built"]  # rebuilt from the cache
    for name in ("SmokeSettings", "SuitePlan", "Probe"):  # no smoke run: no settings, no probes
        assert not any(m.endswith(f".{name}") for m in seen["built"]), name


def test_provenance_digests_from_the_catalog_cache_are_the_files_own() -> None:
    """A cache hit reads no catalog file again: the digests it keeps must be the files'."""
    import hashlib

    from selector.catalog import builtin_catalog_dir, load_catalog
    from selector.provenance import catalog_provenance

    first = load_catalog()
    again = load_catalog()  # from the cache this test's first load wrote
    assert again.digests == first.digests and again.digests
    shipped = builtin_catalog_dir()
    for entry in catalog_provenance(again).files:
        path = shipped / entry.name.removeprefix("shipped/")
        assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest(), entry.name
