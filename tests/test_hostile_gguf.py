"""Crafted GGUF files (issue 17): header numbers are checked before anything is sized by them,
and one bad file is listed as unmatched with its reason, never the end of the run."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gguf import GGUFValueType
from support.gguf_models import make_tiny_gguf
from typer.testing import CliRunner

from selector.catalog import load_catalog
from selector.cli import app
from selector.gguf_header import GGUFFormatError, read_gguf_header
from selector.smoke.discovery import discover_models

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<II", GGUFValueType.UINT32, value)


def _kv_str(key: str, value: str) -> bytes:
    return _s(key) + struct.pack("<I", GGUFValueType.STRING) + _s(value)


def _raw_gguf(path: Path, kvs: list[bytes], tensor_count: int = 0, tail: bytes = b"") -> Path:
    """A GGUF v3 file written byte by byte: the header says what a hostile file wants it to."""
    head = b"GGUF" + struct.pack("<IQQ", 3, tensor_count, len(kvs))
    path.write_bytes(head + b"".join(kvs) + tail)
    return path


def _nested_arrays(depth: int) -> bytes:
    """One metadata value: an array holding an array holding ... `depth` levels deep."""
    array = struct.pack("<I", GGUFValueType.ARRAY)
    level = struct.pack("<IQ", GGUFValueType.ARRAY, 1)  # item type ARRAY, one item
    innermost = struct.pack("<IQ", GGUFValueType.UINT8, 0)
    return _s("general.nested") + array + level * (depth - 1) + innermost


def test_arrays_nested_20000_deep_are_a_format_error_not_a_recursion_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep.gguf"
    blob = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    blob += _kv_str("general.architecture", "llama") + _nested_arrays(20_000)
    path.write_bytes(blob)
    with pytest.raises(GGUFFormatError, match="nested more than"):
        read_gguf_header(path)


def test_300_million_blocks_in_a_tiny_file_are_refused_before_sizing(tmp_path: Path) -> None:
    path = _raw_gguf(
        tmp_path / "blocks.gguf",
        [
            _kv_str("general.architecture", "llama"),
            _kv_u32("llama.block_count", 300_000_000),
            _kv_u32("llama.embedding_length", 64),
        ],
    )
    assert path.stat().st_size < 200
    with pytest.raises(GGUFFormatError, match=r"implausible 'llama'\.block_count = 300000000"):
        read_gguf_header(path)


def test_selector_smoke_on_the_300_million_block_file_stays_small(tmp_path: Path) -> None:
    """Measured: the process's peak RSS, not only the exit code (it used to build 9 GB lists)."""
    path = _raw_gguf(
        tmp_path / "blocks.gguf",
        [
            _kv_str("general.architecture", "llama"),
            _kv_u32("llama.block_count", 300_000_000),
            _kv_u32("llama.embedding_length", 64),
            _kv_u32("llama.attention.head_count", 4),
        ],
    )
    code = (
        "import resource, runpy, sys\n"
        "sys.argv = ['selector', 'smoke', sys.argv[1], '--no-cache']\n"
        "try:\n"
        "    runpy.run_module('selector', run_name='__main__')\n"
        "finally:\n"
        # VmHWM, not ru_maxrss: ru_maxrss keeps the forked pytest's peak across exec
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "    peak = int(hwm[0].split()[1]) / 1024\n"
        "    print(f'PEAK_MIB {peak:.0f}', file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "SELECTOR_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "implausible" in proc.stderr and "Traceback" not in proc.stderr
    peak = float(proc.stderr.rsplit("PEAK_MIB", 1)[1].split()[0])
    assert peak < 400, f"peak RSS {peak:.0f} MiB"


@pytest.mark.parametrize(
    ("what", "blob"),
    [
        # my own cases: counts that the file's bytes cannot hold
        ("10 million tensors", b"GGUF" + struct.pack("<IQQ", 3, 9_999_999, 0) + b"\0" * 64),
        (
            "a string array of 2**60 entries",
            b"GGUF"
            + struct.pack("<IQQ", 3, 0, 1)
            + _s("tokenizer.ggml.tokens")
            + struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.STRING, 2**60),
        ),
        (
            "a float array of 2**40 entries",
            b"GGUF"
            + struct.pack("<IQQ", 3, 0, 1)
            + _s("general.x")
            + struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.FLOAT32, 2**40),
        ),
    ],
    ids=["tensors", "string-array", "float-array"],
)
def test_counts_the_file_cannot_hold_are_refused_at_once(
    tmp_path: Path, what: str, blob: bytes
) -> None:
    path = tmp_path / "counts.gguf"
    path.write_bytes(blob + b"\0" * 32)
    started = time.monotonic()
    with pytest.raises(GGUFFormatError, match="more than its"):
        read_gguf_header(path)
    assert time.monotonic() - started < 1.0, what


def test_a_tensor_larger_than_the_file_is_refused(tmp_path: Path) -> None:
    kvs = [_kv_str("general.architecture", "llama")]
    tensor = _s("blk.0.w") + struct.pack("<I", 2) + struct.pack("<QQ", 2**30, 2**30)
    tensor += struct.pack("<IQ", 0, 0)  # F32 at offset 0: 4 EiB of data in a 100-byte file
    path = _raw_gguf(tmp_path / "t.gguf", kvs, tensor_count=1, tail=tensor)
    with pytest.raises(GGUFFormatError, match=r"implausible dimensions|does not fit"):
        read_gguf_header(path)


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_size_label_of_many_digits_leaves_the_file_unmatched_with_a_reason(
    tmp_path: Path, digits: int
) -> None:
    models = tmp_path / "models"
    make_tiny_gguf(models / "huge-label.gguf", size_label="7" * digits + "B")
    found = discover_models(models, load_catalog())
    assert found.matches == {}
    (unmatched,) = found.unmatched
    assert unmatched.path.name == "huge-label.gguf"
    assert len(unmatched.reason) < 400  # the label is shortened in the reason


def test_recommend_models_dir_lists_every_bad_file_and_finishes(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    blob = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    blob += _kv_str("general.architecture", "llama") + _nested_arrays(20_000)
    (models / "deep.gguf").write_bytes(blob)
    make_tiny_gguf(models / "label400.gguf", size_label="9" * 400 + "x7B")
    make_tiny_gguf(models / "label5000.gguf", size_label="1" * 5000 + "B")
    _raw_gguf(
        models / "blocks.gguf",
        [_kv_str("general.architecture", "llama"), _kv_u32("llama.block_count", 300_000_000)],
    )
    req = tmp_path / "req.toml"
    req.write_text("[smoke]\ntimeout_s = 30\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["recommend", str(req), "--models-dir", str(models), "--no-bundled-model", "-f", "json"],
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    reasons = {Path(u["path"]).name: u["reason"] for u in report["unmatched_files"]}
    assert set(reasons) == {"deep.gguf", "label400.gguf", "label5000.gguf", "blocks.gguf"}
    assert "nested" in reasons["deep.gguf"]
    assert "implausible" in reasons["blocks.gguf"]
