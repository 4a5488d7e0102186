"""The Hugging Face hub cache, where `huggingface_hub` (and `selector fetch`) keep downloads.

Layout (huggingface_hub's file_download.py, `hf_hub_download`):
`<cache>/models--<org>--<name>/snapshots/<commit>/<path in repo>` is a symlink to
`../../blobs/<etag>`, the etag of an LFS file being its sha256; `refs/<branch>` holds a commit.
The cache is `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub`, else
`$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` (huggingface_hub constants.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from selector.weights.files import group_shards, walk_files
from selector.weights.model import Candidate, ScanResult, Source

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def hub_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where huggingface_hub keeps its cache, read from the environment now (not at import)."""
    env = os.environ if env is None else env
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return Path(os.path.expandvars(env[var])).expanduser()
    if env.get("HF_HOME"):
        return Path(os.path.expandvars(env["HF_HOME"])).expanduser() / "hub"
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def repo_folder(repo: str) -> str:
    """`org/name` -> `models--org--name`, as huggingface_hub names a model repo's folder."""
    return "models--" + repo.replace("/", "--")


def _folder_repo(folder: str) -> str | None:
    if not folder.startswith("models--"):
        return None  # datasets--, spaces--: not model weights
    return folder[len("models--") :].replace("--", "/")


def _snapshot_order(repo_dir: Path) -> list[Path]:
    """Snapshots a ref points at first (`main` first), then the rest in name order."""
    snapshots = repo_dir / "snapshots"
    try:
        all_commits = sorted(p for p in snapshots.iterdir() if p.is_dir())
    except OSError:
        return []
    referenced: list[str] = []
    try:
        refs = sorted((repo_dir / "refs").iterdir(), key=lambda p: (p.name != "main", p.name))
        for ref in refs:
            commit = ref.read_text(encoding="utf-8").strip()
            if _COMMIT.match(commit) and commit not in referenced:
                referenced.append(commit)
    except OSError:
        pass
    rank = {c: i for i, c in enumerate(referenced)}
    return sorted(all_commits, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def scan_hub(root: Path, source: Source = Source.HF_CACHE) -> ScanResult:
    """Every GGUF (or shard set) in every snapshot of every model repo under `root`."""
    result = ScanResult(roots=[root])
    try:
        repo_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return result
    for repo_dir in repo_dirs:
        repo = _folder_repo(repo_dir.name)
        if repo is None:
            continue
        for snapshot in _snapshot_order(repo_dir):
            files = walk_files(snapshot, problems=result.problems)
            for shards, problem in group_shards(files):
                first = shards[0]
                claimed = None
                try:
                    target = Path(os.readlink(first)).name if first.is_symlink() else ""
                except OSError:
                    target = ""
                if _HEX64.match(target):
                    claimed = target
                if not problem and not all(s.exists() for s in shards):
                    problem = "snapshot link points at a missing blob"
                result.candidates.append(
                    Candidate(
                        path=first,
                        source=source,
                        shards=shards,
                        name=first.relative_to(snapshot).as_posix(),
                        repo=repo,
                        revision=snapshot.name if _COMMIT.match(snapshot.name) else None,
                        claimed_sha256=claimed,
                        label=f"{repo}@{snapshot.name[:12]}",
                        problem=problem,
                    )
                )
    return result


def scan(env: Mapping[str, str] | None = None) -> ScanResult:
    return scan_hub(hub_cache_dir(env))
