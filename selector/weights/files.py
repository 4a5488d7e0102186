"""Walking a directory for GGUF files, and putting the shards of a split GGUF together.

A split GGUF (`name-00001-of-00003.gguf`, llama.cpp's gguf-split naming) is one model: llama.cpp
is given the first shard and loads the others from beside it, so discovery reports the set as
one entry and says which shard is missing when the set is incomplete.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

SHARD = re.compile(r"^(?P<stem>.+)-(?P<n>\d{5})-of-(?P<m>\d{5})\.gguf$", re.IGNORECASE)


def is_gguf_name(name: str) -> bool:
    return name.lower().endswith(".gguf")


def walk_files(
    root: Path,
    *,
    keep: Callable[[str], bool] = is_gguf_name,
    skip_dir: Callable[[str], bool] = lambda name: False,
    problems: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Files under `root` whose name passes `keep`, sorted; directory links are not followed
    (no loops), file links are (a store of symlinks is the norm). Unreadable directories are
    noted in `problems` and skipped."""

    def onerror(exc: OSError) -> None:
        if problems is not None:
            problems.append((Path(exc.filename or root), f"cannot read: {exc.strerror or exc}"))

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames[:] = sorted(d for d in dirnames if not skip_dir(d))
        found += [Path(dirpath) / name for name in filenames if keep(name)]
    return sorted(found)


def group_shards(paths: Iterable[Path]) -> list[tuple[tuple[Path, ...], str]]:
    """Each model as (its files in load order, problem). A single file is a one-element tuple;
    a split set is its shards 1..M; a set missing shards carries a problem naming them."""
    singles: list[tuple[tuple[Path, ...], str]] = []
    sets: dict[tuple[Path, str, int], dict[int, Path]] = {}
    for path in paths:
        m = SHARD.match(path.name)
        if m is None:
            singles.append(((path,), ""))
            continue
        key = (path.parent, m.group("stem").lower(), int(m.group("m")))
        sets.setdefault(key, {})[int(m.group("n"))] = path
    out = list(singles)
    for (_, _, total), shards in sets.items():
        ordered = tuple(shards[i] for i in sorted(shards))
        missing = [i for i in range(1, total + 1) if i not in shards]
        extra = [i for i in shards if i < 1 or i > total]
        problem = ""
        if total < 1 or extra:
            problem = f"split GGUF numbered outside 1..{total}"
        elif missing:
            names = ", ".join(str(i) for i in missing)
            problem = f"split GGUF incomplete: shard(s) {names} of {total} missing"
        out.append((ordered, problem))
    return sorted(out, key=lambda item: item[0][0])
