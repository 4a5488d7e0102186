"""`selector models`: real on-disk stores of each tool in a temporary HOME, holding generated
GGUF files, and what is found and matched (sha256 first, then name, then GGUF metadata)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from support.caches import hf_snapshot, lmstudio_model, ollama_model, sha256_file
from support.gguf_models import make_corrupt_gguf, make_tiny_gguf
from typer.testing import CliRunner

from selector.cli import app

R1, R1B, R1C, R2 = "1" * 40, "b" * 40, "c" * 40, "2" * 40
ARCH = "tinytest"

LICENSE = """
[[license]]
id = "tiny-license"
name = "Tiny"
osi_approved = true
commercial_use = true
url = "https://example.com/l"
sources = ["https://example.com/l"]
"""


def model(model_id: str, params_b: float, gguf_files: str = "[]") -> str:
    return f"""
[[model]]
id = "{model_id}"
name = "{model_id}"
family = "tinytest"
organization = "Test"
origin_country = "FR"
release_date = 2025-01-01
params_b = {params_b}
architecture = "dense"
layers = 2
context_tokens = 4096
license = "tiny-license"
gguf_arch = "{ARCH}"
gguf_files = {gguf_files}
sources = ["https://example.com/m"]
[model.attention]
heads = 4
kv_heads = 2
head_dim = 16
"""


def artifact(model_id: str, repo: str, rev: str, files: list[tuple[str, Path]]) -> str:
    listed = ", ".join(
        f'{{ name = "{n}", size_bytes = {p.stat().st_size}, sha256 = "{sha256_file(p)}" }}'
        for n, p in files
    )
    return f"""
[[artifact]]
model = "{model_id}"
quantization = "F32"
repo = "{repo}"
revision = "{rev}"
source = "https://huggingface.co/{repo}"
files = [{listed}]
"""


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME; the tool caches are found where each tool puts them by default."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("HF_HUB_CACHE", "LLAMA_CACHE", "OLLAMA_MODELS", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    kw = {"arch": ARCH, "finetune": "Instruct"}
    return {
        "one": make_tiny_gguf(src / "one.gguf", name="Tiny", size_label="1B", **kw),
        "one-other": make_tiny_gguf(src / "o.gguf", name="Tiny", size_label="1B", seed=9, **kw),
        "s1": make_tiny_gguf(src / "s1.gguf", name="Tiny", size_label="7B", seed=1, **kw),
        "s2": make_tiny_gguf(
            src / "s2.gguf", name="Tiny", size_label="7B", seed=2, n_layer=1, **kw
        ),
        "three": make_tiny_gguf(src / "t.gguf", name="Tiny", size_label="3B", n_layer=3, **kw),
        "named": make_tiny_gguf(src / "n.gguf", name="whatever", n_layer=4, **kw),
    }


@pytest.fixture()
def catalog(tmp_path: Path, files: dict[str, Path]) -> Path:
    cat = tmp_path / "catalog"
    cat.mkdir()
    (cat / "models.toml").write_text(
        LICENSE
        + model("tinytest-1b", 1.0)
        + model("tinytest-7b", 7.0)
        + model("tinytest-3b", 3.0)
        + model("tinytest-named", 2.0, '["My-Custom-Name.gguf"]')
    )
    shards = [
        ("F32/tiny-7b-f32-00001-of-00002.gguf", files["s1"]),
        ("F32/tiny-7b-f32-00002-of-00002.gguf", files["s2"]),
    ]
    (cat / "artifacts.toml").write_text(
        artifact("tinytest-1b", "org/tiny-1b-GGUF", R1, [("tiny-1b-f32.gguf", files["one"])])
        + artifact("tinytest-7b", "org/tiny-7b-GGUF", R2, shards)
    )
    return cat


def run_models(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["models", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def crafted_gguf(path: Path) -> Path:
    """A header that claims a string of 2^62 bytes: the reader must refuse, not allocate."""
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62) + b"k")
    return path


def test_every_store_is_found_and_matched(
    home: Path, files: dict[str, Path], catalog: Path, tmp_path: Path
) -> None:
    hub = home / ".cache" / "huggingface" / "hub"
    hf_snapshot(hub, "org/tiny-1b-GGUF", R1, {"tiny-1b-f32.gguf": files["one"]})
    hf_snapshot(hub, "org/tiny-1b-GGUF", R1C, {"tiny-1b-f32.gguf": files["one"]}, ref=None)
    hf_snapshot(hub, "org/tiny-1b-GGUF", R1B, {"tiny-1b-f32.gguf": files["one-other"]}, ref="pr")
    hf_snapshot(
        hub,
        "org/tiny-7b-GGUF",
        R2,
        {
            "F32/tiny-7b-f32-00001-of-00002.gguf": files["s1"],
            "F32/tiny-7b-f32-00002-of-00002.gguf": files["s2"],
        },
    )
    ollama = home / ".ollama" / "models"
    ollama_model(ollama, "library/tinytest:3b", files["three"])
    ollama_model(ollama, "library/broken:latest", None, manifest="{not json")
    ollama_model(ollama, "someone/gone:q4", None)
    lmstudio_model(
        home / ".lmstudio" / "models", "someone", "Tiny-GGUF", files["named"], "My-Custom-Name.gguf"
    )
    llama = home / ".cache" / "llama.cpp"
    llama.mkdir(parents=True)
    (llama / "org_tiny-1b-GGUF_tiny-1b-f32.gguf").write_bytes(files["one"].read_bytes())
    models_dir = tmp_path / "mine"
    make_corrupt_gguf(models_dir / "cut.gguf", keep_bytes=500, source=files["one"])
    crafted_gguf(models_dir / "crafted.gguf")
    (models_dir / "text.gguf").write_text("not a model at all")

    found = run_models("--catalog", str(catalog), "--models-dir", str(models_dir))
    by = {(w["source"], w["name"], w["revision"]): w for w in found}

    good = by[("hf-cache", "tiny-1b-f32.gguf", R1)]
    assert (good["catalog_id"], good["match"], good["hash"]) == (
        "tinytest-1b",
        "sha256",
        "verified",
    )
    assert good["repo"] == "org/tiny-1b-GGUF" and good["quantization"] == "F32"
    assert ("hf-cache", "tiny-1b-f32.gguf", R1C) not in by, "the same blob is one file"

    bad = by[("hf-cache", "tiny-1b-f32.gguf", R1B)]
    assert (bad["catalog_id"], bad["match"], bad["hash"]) == ("tinytest-1b", "filename", "mismatch")
    assert sha256_file(files["one-other"]) in bad["reason"]
    assert sha256_file(files["one"]) in bad["reason"]

    split = by[("hf-cache", "F32/tiny-7b-f32-00001-of-00002.gguf", R2)]
    assert (split["catalog_id"], split["hash"], len(split["shards"])) == (
        "tinytest-7b",
        "verified",
        2,
    )
    assert split["size_bytes"] == files["s1"].stat().st_size + files["s2"].stat().st_size
    assert not any("00002-of-00002" in w["name"] for w in found), "shards are one model"

    three = by[("ollama", "tinytest:3b", None)]
    assert (three["catalog_id"], three["match"], three["hash"]) == (
        "tinytest-3b",
        "metadata",
        "unknown",
    )
    assert three["sha256"] is None, "a size no artifact pins is never hashed"
    assert "unreadable manifest" in by[("ollama", "broken:latest", None)]["reason"]
    assert "is missing" in by[("ollama", "someone/gone:q4", None)]["reason"]

    named = by[("lm-studio", "My-Custom-Name.gguf", None)]
    assert (named["catalog_id"], named["match"]) == ("tinytest-named", "filename")
    assert named["repo"] == "someone/Tiny-GGUF"

    flat = by[("llama.cpp", "org_tiny-1b-GGUF_tiny-1b-f32.gguf", None)]
    assert (flat["catalog_id"], flat["hash"]) == ("tinytest-1b", "verified")

    reasons = {w["name"]: w["reason"] for w in found if w["source"] == "models-dir"}
    assert {n for n, w in reasons.items()} == {"cut.gguf", "crafted.gguf", "text.gguf"}
    assert "not a loadable GGUF" in reasons["cut.gguf"]
    # the header's counts are checked against the bytes left before anything is read by them
    assert "not a loadable GGUF" in reasons["crafted.gguf"]
    assert "remaining bytes can hold" in reasons["crafted.gguf"]
    assert "no GGUF magic" in reasons["text.gguf"]
    assert all(w["catalog_id"] is None for w in found if w["source"] == "models-dir")


def test_hashes_are_remembered_and_no_hash_reads_no_file(
    home: Path,
    files: dict[str, Path],
    catalog: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    hub = home / ".cache" / "huggingface" / "hub"
    hf_snapshot(hub, "org/tiny-1b-GGUF", R1, {"tiny-1b-f32.gguf": files["one"]})
    assert run_models("--catalog", str(catalog))[0]["hash"] == "verified"

    import selector.weights.hashing as hashing

    def no_reading(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(hashing, "sha256_of", no_reading)
    (again,) = run_models("--catalog", str(catalog))
    assert again["hash"] == "verified", "the remembered hash is used"

    monkeypatch.setenv("SELECTOR_CACHE_DIR", str(tmp_path / "fresh-cache"))  # memo gone
    (unhashed,) = run_models("--catalog", str(catalog), "--no-hash")
    assert (unhashed["catalog_id"], unhashed["match"], unhashed["hash"]) == (
        "tinytest-1b",
        "filename",
        "unknown",
    )
    assert "not hashed" in unhashed["reason"]


def test_a_changed_file_is_hashed_again(home: Path, files: dict[str, Path], catalog: Path) -> None:
    llama = home / ".cache" / "llama.cpp"
    llama.mkdir(parents=True)
    target = llama / "tiny.gguf"
    target.write_bytes(files["one"].read_bytes())
    assert run_models("--catalog", str(catalog))[0]["hash"] == "verified"
    target.write_bytes(files["one-other"].read_bytes())  # same size, other bytes
    (after,) = run_models("--catalog", str(catalog))
    assert after["sha256"] == sha256_file(files["one-other"]) and after["hash"] == "unknown"
    assert after["match"] == "metadata"


def test_environment_overrides_move_each_store(
    home: Path,
    files: dict[str, Path],
    catalog: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hf = tmp_path / "elsewhere" / "hf"
    llama = tmp_path / "elsewhere" / "llama"
    oll = tmp_path / "elsewhere" / "ollama"
    monkeypatch.setenv("HF_HUB_CACHE", str(hf))
    monkeypatch.setenv("LLAMA_CACHE", str(llama))
    monkeypatch.setenv("OLLAMA_MODELS", str(oll))
    hf_snapshot(hf, "org/tiny-1b-GGUF", R1, {"tiny-1b-f32.gguf": files["one"]})
    # current llama.cpp keeps the hub layout in LLAMA_CACHE
    hf_snapshot(
        llama,
        "org/tiny-7b-GGUF",
        R2,
        {"F32/x-00001-of-00002.gguf": files["s1"], "F32/x-00002-of-00002.gguf": files["s2"]},
    )
    ollama_model(oll, "library/tinytest:3b", files["three"])
    # and the defaults under HOME are no longer read
    hf_snapshot(
        home / ".cache" / "huggingface" / "hub", "org/other", R1, {"o.gguf": files["named"]}
    )

    found = run_models("--catalog", str(catalog))
    assert sorted((w["source"], w["catalog_id"]) for w in found) == [
        ("hf-cache", "tinytest-1b"),
        ("llama.cpp", "tinytest-7b"),
        ("ollama", "tinytest-3b"),
    ]


def test_lmstudio_home_pointer_and_legacy_folder(
    home: Path, files: dict[str, Path], catalog: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "lms-home"
    (home / ".lmstudio-home-pointer").write_text(str(moved))
    lmstudio_model(moved / "models", "a", "b", files["three"], "tiny-3b.gguf")
    lmstudio_model(home / ".cache" / "lm-studio" / "models", "c", "d", files["named"], "x.gguf")
    found = run_models("--catalog", str(catalog))
    assert sorted((w["source"], w["name"], w["catalog_id"]) for w in found) == [
        ("lm-studio", "tiny-3b.gguf", "tinytest-3b"),
        ("lm-studio", "x.gguf", None),
    ]


def test_the_table_prints_names_as_text(
    home: Path, files: dict[str, Path], catalog: Path, tmp_path: Path
) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "[bold]x.gguf").write_bytes(files["three"].read_bytes())
    result = CliRunner().invoke(app, ["models", "--catalog", str(catalog), "--models-dir", str(d)])
    assert result.exit_code == 0, result.output
    assert "[bold]x.gguf" in result.stdout
    assert "tinytest-3b" in result.stdout and "metadata" in result.stdout


def test_models_dir_must_exist(home: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["models", "--models-dir", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a directory" in result.stderr and "Traceback" not in result.output
