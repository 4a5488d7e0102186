"""Lay out each tool's real on-disk store, as the tool itself writes it, around given files.

Hugging Face hub cache: blobs named by sha256, snapshot symlinks `../../blobs/<sha>`, a
`refs/main`. Ollama: a manifest JSON naming the model layer by digest, blob `sha256-<hex>`.
LM Studio: `models/<publisher>/<model>/<file>.gguf`. llama.cpp (older builds): flat
`<org>_<repo>_<file>.gguf` in its cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def hf_snapshot(
    cache: Path, repo: str, commit: str, files: dict[str, Path], *, ref: str | None = "main"
) -> dict[str, Path]:
    """Put `files` (path in repo -> local file) into the hub cache at `commit`; returns the
    snapshot path of each."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    out = {}
    for name, source in files.items():
        sha = sha256_file(source)
        blob = repo_dir / "blobs" / sha
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(source, blob)
        link = repo_dir / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        out[name] = link
    if ref:
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)
    return out


def ollama_model(store: Path, name: str, gguf: Path | None, *, manifest: str | None = None) -> Path:
    """`name` like "library/gemma3:270m" or "hf.co/org/repo:Q4_K_M"; returns the blob path.

    `manifest` replaces the manifest text (a broken one); `gguf=None` names a missing blob.
    """
    ref, tag = name.rsplit(":", 1)
    parts = ref.split("/")
    registry = "registry.ollama.ai" if len(parts) == 2 else parts[0]
    namespace, model = parts[-2], parts[-1]
    sha = sha256_file(gguf) if gguf is not None else "0" * 64
    blob = store / "blobs" / f"sha256-{sha}"
    if gguf is not None:
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gguf, blob)
    path = store / "manifests" / registry / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    text = manifest or json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:" + "1" * 64,
                "size": 490,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.ollama.image.model",
                    "digest": f"sha256:{sha}",
                    "size": gguf.stat().st_size if gguf else 0,
                },
                {
                    "mediaType": "application/vnd.ollama.image.license",
                    "digest": "sha256:" + "2" * 64,
                    "size": 8432,
                },
            ],
        }
    )
    path.write_text(text)
    return blob


def lmstudio_model(models: Path, publisher: str, model: str, gguf: Path, name: str) -> Path:
    target = models / publisher / model / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(gguf, target)
    return target
