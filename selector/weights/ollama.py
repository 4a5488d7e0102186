"""Ollama's model store.

`OLLAMA_MODELS` if set, else `~/.ollama/models` (macOS, Windows, a user's own `ollama serve`)
and `/usr/share/ollama/.ollama/models` (the Linux service install)
(https://github.com/ollama/ollama/blob/main/docs/faq.md#where-are-models-stored).
A model is a manifest, `manifests/<registry>/<namespace>/<model>/<tag>` (JSON), whose layer of
media type `application/vnd.ollama.image.model` names the GGUF blob by digest `sha256:<hex>`,
stored as `blobs/sha256-<hex>`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from selector.weights.model import Candidate, ScanResult, Source

MODEL_LAYER = "application/vnd.ollama.image.model"
DEFAULT_REGISTRY = "registry.ollama.ai"
_DIGEST = re.compile(r"^sha256[:-]([0-9a-f]{64})$")
_MAX_MANIFEST = 1 << 20  # manifests are a few hundred bytes; anything larger is not one


def ollama_dirs(env: Mapping[str, str] | None = None, platform: str | None = None) -> list[Path]:
    env = os.environ if env is None else env
    if env.get("OLLAMA_MODELS"):
        return [Path(env["OLLAMA_MODELS"]).expanduser()]
    dirs = [Path.home() / ".ollama" / "models"]
    if (platform or sys.platform).startswith("linux"):
        dirs.append(Path("/usr/share/ollama/.ollama/models"))
    return dirs


def model_name(parts: tuple[str, ...]) -> str:
    """`ollama list`'s name for a manifest path (registry, namespace, model, tag)."""
    registry, namespace, model, tag = parts
    if registry == DEFAULT_REGISTRY:
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{registry}/{namespace}/{model}:{tag}"


def _model_blob(manifest: Path, store: Path) -> tuple[Path | None, str | None, str]:
    """(blob path, digest, problem) for one manifest file."""
    try:
        if manifest.stat().st_size > _MAX_MANIFEST:
            return None, None, "manifest too large to be one"
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, None, f"unreadable manifest: {exc}"
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return None, None, "manifest has no layers"
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("mediaType") != MODEL_LAYER:
            continue
        digest = _DIGEST.match(str(layer.get("digest", "")))
        if digest is None:
            return None, None, f"model layer digest {str(layer.get('digest'))[:80]!r} is not sha256"
        sha = digest.group(1)
        return store / "blobs" / f"sha256-{sha}", sha, ""
    return None, None, f"manifest has no {MODEL_LAYER} layer"


def scan_store(store: Path) -> ScanResult:
    result = ScanResult(roots=[store])
    manifests = store / "manifests"
    if not manifests.is_dir():
        return result
    for dirpath, dirnames, filenames in os.walk(manifests):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            parts = path.relative_to(manifests).parts
            if len(parts) != 4:
                continue
            blob, sha, problem = _model_blob(path, store)
            if blob is not None and not blob.exists():
                problem = f"model blob {blob.name} is missing"
            result.candidates.append(
                Candidate(
                    path=blob or path,
                    source=Source.OLLAMA,
                    shards=(blob or path,),
                    name=model_name(parts),
                    claimed_sha256=sha,
                    label=str(path),
                    problem=problem,
                )
            )
    return result


def scan(env: Mapping[str, str] | None = None) -> ScanResult:
    result = ScanResult()
    for store in ollama_dirs(env):
        found = scan_store(store)
        result.roots += found.roots
        result.candidates += found.candidates
        result.problems += found.problems
    return result
