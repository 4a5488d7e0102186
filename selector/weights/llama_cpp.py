"""llama.cpp's download cache (`llama-cli -hf`, `--model-url`).

`LLAMA_CACHE` if set, else the platform cache directory plus `llama.cpp`: `$XDG_CACHE_HOME` or
`~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows
(common/common.cpp `fs_get_cache_directory`,
https://github.com/ggml-org/llama.cpp/blob/master/common/common.cpp). Older builds store flat
files named `<org>_<repo>_<file>.gguf` there; current builds (common/hf-cache.cpp) keep the
Hugging Face hub layout instead, in `LLAMA_CACHE` when set and in the hub cache itself when not
(then the files are found as `hf-cache`). Both layouts are read here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from selector.weights.files import group_shards, walk_files
from selector.weights.hf_cache import scan_hub
from selector.weights.model import Candidate, ScanResult, Source


def llama_cache_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if env.get("LLAMA_CACHE"):
        return Path(env["LLAMA_CACHE"]).expanduser()
    if platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llama.cpp"
    if platform.startswith("win") and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "llama.cpp"
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "llama.cpp"


def scan(env: Mapping[str, str] | None = None) -> ScanResult:
    root = llama_cache_dir(env)
    result = ScanResult(roots=[root])
    if not root.is_dir():
        return result
    hub = scan_hub(root, Source.LLAMA_CPP)  # the hub layout, when LLAMA_CACHE holds one
    result.candidates += hub.candidates
    result.problems += hub.problems
    flat = walk_files(
        root,
        skip_dir=lambda name: name.startswith("models--") or name.startswith("."),
        problems=result.problems,
    )
    for shards, problem in group_shards(flat):
        first = shards[0]
        result.candidates.append(
            Candidate(
                path=first,
                source=Source.LLAMA_CPP,
                shards=shards,
                name=first.name,
                problem=problem,
            )
        )
    return result
