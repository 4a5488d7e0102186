"""Provenance: each digest is the sha256 of its input and changes exactly when that input does."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from selector.catalog import builtin_catalog_dir, load_catalog
from selector.cli import app
from selector.hardware import resolve_hardware
from selector.pipeline import SmokePlan, recommend
from selector.provenance import Provenance, catalog_date, plan_fingerprint, suite_fingerprint
from selector.report.formats import OutputFormat, format_report
from selector.requirements import load_requirements
from selector.smoke import probes
from selector.smoke_stage import requirements_suite, smoke_settings

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
REQ = """# support agent
[use_case]
name = "support-agent"
context_tokens = 8192

[license]
commercial_use = true

[hardware]
gpus = [{ model = "L40S", count = 1 }]
ram_gb = 128
"""
# the four digests, each named by the input it pins
DIGESTS = {
    "requirements": lambda p: p.requirements.sha256,
    "catalog": lambda p: p.catalog.sha256,
    "hardware": lambda p: p.hardware.sha256,
    "suite": lambda p: p.smoke_suite.sha256,
}


def run(req_path: Path, catalog_dir: Path) -> Provenance:
    cat = load_catalog([catalog_dir], replace=True)
    req = load_requirements(req_path, cat)
    hw = resolve_hardware(req.hardware, cat)
    report = recommend(req, cat, hw, SmokePlan(enabled=False), now=NOW, requirements_path=req_path)
    assert report.provenance is not None
    return report.provenance


def digests(p: Provenance) -> dict[str, str | None]:
    return {name: get(p) for name, get in DIGESTS.items()}


def flip_byte(path: Path, needle: bytes) -> None:
    """Change one byte inside `needle` (a comment or a note: the file stays valid)."""
    data = bytearray(path.read_bytes())
    at = data.index(needle) + 1
    data[at] = data[at] ^ 0x01
    path.write_bytes(bytes(data))


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    catalog = tmp_path / "catalog"
    shutil.copytree(builtin_catalog_dir(), catalog)
    req = tmp_path / "req.toml"
    req.write_text(REQ, encoding="utf-8")
    return req, catalog


def changed(before: Provenance, after: Provenance) -> set[str]:
    a, b = digests(before), digests(after)
    return {k for k in a if a[k] != b[k]}


def test_each_digest_is_the_sha256_of_its_input(inputs: tuple[Path, Path]) -> None:
    req, catalog = inputs
    p = run(req, catalog)
    assert p.requirements.sha256 == hashlib.sha256(req.read_bytes()).hexdigest()
    files = sorted(catalog.rglob("*.toml"))
    # --replace-catalog: the copy is the only root, so its files are extra[0]/...
    assert [f.name for f in p.catalog.files] == [
        f"extra[0]/{f.relative_to(catalog).as_posix()}" for f in files
    ]
    for entry, path in zip(p.catalog.files, files, strict=True):
        assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    listing = "".join(f"{f.name}\0{f.sha256}\n" for f in p.catalog.files).encode()
    assert p.catalog.sha256 == hashlib.sha256(listing).hexdigest()
    assert p.smoke_suite.version == probes.SUITE_VERSION
    assert p.generated_at == "2026-11-22T10:00:00Z"


def test_same_inputs_same_digests_wherever_the_catalog_lives(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    req, catalog = inputs
    elsewhere = tmp_path / "deeper" / "copy"
    shutil.copytree(catalog, elsewhere)
    assert digests(run(req, catalog)) == digests(run(req, elsewhere))


def test_one_byte_of_the_requirements_changes_only_their_digest(
    inputs: tuple[Path, Path],
) -> None:
    req, catalog = inputs
    before = run(req, catalog)
    flip_byte(req, b"# support")  # a comment: the requirements as understood stay the same
    assert changed(before, run(req, catalog)) == {"requirements"}


def test_one_byte_of_a_catalog_file_changes_only_the_catalog_digest(
    inputs: tuple[Path, Path],
) -> None:
    req, catalog = inputs
    before = run(req, catalog)
    target = catalog / "models" / "phi-4.toml"
    flip_byte(target, b"# ")
    after = run(req, catalog)
    assert changed(before, after) == {"catalog"}
    moved = [
        a.name for a, b in zip(before.catalog.files, after.catalog.files, strict=True) if a != b
    ]
    assert moved == ["extra[0]/models/phi-4.toml"]


def test_the_hardware_digest_follows_the_profile_not_free_memory(
    inputs: tuple[Path, Path],
) -> None:
    req, catalog = inputs
    cat = load_catalog([catalog], replace=True)
    r = load_requirements(req, cat)
    hw = resolve_hardware(r.hardware, cat)

    def prov(profile) -> Provenance:
        report = recommend(r, cat, profile, SmokePlan(enabled=False), requirements_path=req)
        assert report.provenance is not None
        return report.provenance

    base = prov(hw)
    assert changed(base, prov(hw.model_copy(update={"ram_gb": 129.0}))) == {"hardware"}
    # free memory moves minute to minute; it is not what the recommendation was about
    assert changed(base, prov(hw.model_copy(update={"ram_available_gb": 3.0}))) == set()


def test_a_changed_probe_changes_only_the_suite_digest(
    inputs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    req, catalog = inputs
    before = run(req, catalog)
    real = probes.builtin_suite_text

    def edited(capability: str) -> tuple[Path, str]:
        path, text = real(capability)
        if capability == "instruction-following":  # always asked, whatever the needs
            text = text.replace("prompt = ", "prompt =  ", 1)
        return path, text

    monkeypatch.setattr(probes, "builtin_suite_text", edited)
    after = run(req, catalog)
    assert changed(before, after) == {"suite"}
    parsed = load_requirements(req, load_catalog([catalog], replace=True))
    assert after.smoke_suite == requirements_suite(parsed)
    # the fingerprint of the loaded plan the run would smoke-test with is the same
    monkeypatch.setattr(probes, "builtin_suite_text", real)
    assert before.smoke_suite == plan_fingerprint(smoke_settings(parsed).suite)
    assert before.smoke_suite != suite_fingerprint()  # the run's capabilities, not all of them


def test_a_team_probe_file_is_part_of_the_suite_digest(tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text("[[probe]]\nid = 'x'\n", encoding="utf-8")
    first = suite_fingerprint(["instruction-following"], [team])
    assert suite_fingerprint(["instruction-following"], [team]) == first  # bytes, not time
    team.write_text("[[probe]]\nid = 'y'\n", encoding="utf-8")
    assert suite_fingerprint(["instruction-following"], [team]) != first
    assert suite_fingerprint(["instruction-following"]) != first


def test_catalog_date_prefers_last_verified_over_release_dates() -> None:
    model = SimpleNamespace(release_date=dt.date(2026, 3, 1), last_verified=dt.date(2026, 9, 1))
    lic = SimpleNamespace(last_verified=dt.date(2026, 10, 2))
    cat = SimpleNamespace(models={"m": model}, licenses={"l": lic})
    assert catalog_date(cat) == ("2026-10-02", "newest last_verified of the catalog's entries")  # type: ignore[arg-type]
    model.last_verified = lic.last_verified = None
    date, basis = catalog_date(cat)  # type: ignore[arg-type]
    assert date == "2026-03-01" and "release_date" in basis


def test_every_format_carries_the_provenance(repo_root: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "recommend",
            str(repo_root / "examples" / "server-strict-license.toml"),
            "--no-smoke",
            "--format",
            "json",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    p = report["provenance"]
    req_bytes = (repo_root / "examples" / "server-strict-license.toml").read_bytes()
    assert p["requirements"]["sha256"] == hashlib.sha256(req_bytes).hexdigest()
    assert p["selector_version"] == report["selector_version"]
    assert p["generated_at"] == report["generated_at"]
    assert all(f["name"].startswith("shipped/") for f in p["catalog"]["files"])
    from selector.report.schema import Report

    parsed = Report.model_validate(report)
    md = format_report(parsed, OutputFormat.MARKDOWN)
    for digest in (p["requirements"]["sha256"], p["catalog"]["sha256"], p["smoke_suite"]["sha256"]):
        assert digest in md
    table = format_report(parsed, OutputFormat.TABLE, width=80)
    footer = [line for line in table.splitlines() if line.startswith("Provenance:")]
    assert len(footer) == 1, table  # one line, even at 80 columns
    assert p["catalog"]["sha256"][:12] in footer[0]
    assert p["requirements"]["sha256"][:12] in footer[0]
