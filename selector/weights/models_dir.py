"""A directory of GGUF files the user names (`--models-dir`, `[smoke] models_dir`)."""

from __future__ import annotations

from pathlib import Path

from selector.weights.files import group_shards, walk_files
from selector.weights.model import Candidate, ScanResult, Source


def scan_dir(
    root: Path, source: Source = Source.MODELS_DIR, *, repo_depth: bool = False
) -> ScanResult:
    """Every GGUF (or shard set) under `root`, recursively.

    With `repo_depth` (LM Studio's `publisher/model/file.gguf` layout, which mirrors the Hugging
    Face repository it was downloaded from), the two parent folders are taken as the repo.
    """
    result = ScanResult(roots=[root])
    if not root.is_dir():
        return result
    files = walk_files(root, problems=result.problems)
    for shards, problem in group_shards(files):
        first = shards[0]
        repo = None
        if repo_depth:
            parts = first.relative_to(root).parts
            if len(parts) == 3:
                repo = f"{parts[0]}/{parts[1]}"
        result.candidates.append(
            Candidate(
                path=first,
                source=source,
                shards=shards,
                name=first.name,
                repo=repo,
                label=repo or "",
                problem=problem,
            )
        )
    return result
