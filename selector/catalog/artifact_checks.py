"""`catalog validate`'s checks of `[[artifact]]` tables, beyond what one entry's schema can see.

Problems: a GGUF quantization llama.cpp does not name, a file that is not `*.gguf`, shards of a
split GGUF that are not `-0000N-of-0000M` named, consistent and in order, a file listed twice
(in one artifact, or by two artifacts of one repository). Notes, not problems: an artifact
without a pinned revision (unpinned) or a file without a sha256 (unverified) is allowed, but
is reported as such, because a download of it cannot be checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selector.catalog.loader import Entry, ParsedFile
from selector.catalog.schema import Artifact
from selector.tomlio import Problem

SHARD = re.compile(r"-(?P<n>\d{5})-of-(?P<m>\d{5})\.gguf$", re.IGNORECASE)


def _shard_problems(entry: Entry, art: Artifact) -> list[Problem]:
    names = [f.name for f in art.files]
    shards = [SHARD.search(n) for n in names]
    if len(names) == 1:
        m = shards[0]
        if m and (int(m.group("n")), int(m.group("m"))) != (1, 1):
            return [
                entry.problem(
                    f"artifact {art.id}: {names[0]} is one shard of a split GGUF; list every shard",
                    "files",
                )
            ]
        return []
    if not all(shards):
        plain = ", ".join(n for n, m in zip(names, shards, strict=True) if m is None)
        return [
            entry.problem(
                f"artifact {art.id}: several files but {plain} is not a "
                "-0000N-of-0000M shard of a split GGUF",
                "files",
            )
        ]
    totals = {int(m.group("m")) for m in shards if m}
    prefixes = {SHARD.sub("", n) for n in names}
    if len(totals) > 1 or len(prefixes) > 1:
        return [entry.problem(f"artifact {art.id}: shards of different split sets", "files")]
    total = totals.pop()
    numbers = [int(m.group("n")) for m in shards if m]
    if numbers != list(range(1, total + 1)):
        listed = ", ".join(str(n) for n in numbers)
        return [
            entry.problem(
                f"artifact {art.id}: shards must be 1..{total} in order, listed {listed}", "files"
            )
        ]
    return []


def artifact_problems(entry: Entry, art: Artifact) -> list[Problem]:
    """What is wrong with one valid artifact entry."""
    from selector.fit.quant import normalize_quant

    problems: list[Problem] = []
    if art.format == "gguf":
        try:
            normalize_quant(art.quantization)
        except ValueError as exc:
            problems.append(entry.problem(f"artifact {art.id}: {exc}", "quantization"))
        bad = [f.name for f in art.files if not f.name.lower().endswith(".gguf")]
        if bad:
            problems.append(
                entry.problem(f"artifact {art.id}: {', '.join(bad)} is not a *.gguf file", "files")
            )
        else:
            problems += _shard_problems(entry, art)
    seen: set[str] = set()
    for f in art.files:
        if f.name.lower() in seen:
            problems.append(
                entry.problem(f"artifact {art.id}: file {f.name} listed twice", "files")
            )
        seen.add(f.name.lower())
    return problems


def duplicate_file_problems(files: Sequence[ParsedFile]) -> list[Problem]:
    """One repository file claimed by two artifacts makes a download's identity ambiguous."""
    owner: dict[tuple[str, str], str] = {}
    problems = []
    for parsed in files:
        for entry in parsed.entries:
            if not isinstance(entry.item, Artifact):
                continue
            for f in entry.item.files:
                key = (entry.item.repo.lower(), f.name.lower())
                first = owner.setdefault(key, entry.item.id)
                if first != entry.item.id:
                    problems.append(
                        entry.problem(
                            f"artifact {entry.item.id}: {entry.item.repo}/{f.name} is already "
                            f"listed by artifact {first}",
                            "files",
                        )
                    )
    return problems


def artifact_notes(files: Sequence[ParsedFile]) -> list[Problem]:
    """Allowed but worth a line: unpinned artifacts and files without a sha256."""
    notes = []
    for parsed in files:
        for entry in parsed.entries:
            art = entry.item
            if not isinstance(art, Artifact):
                continue
            if art.revision is None:
                notes.append(entry.problem(f"artifact {art.id}: unpinned (no revision)", "repo"))
            unhashed = [f.name for f in art.files if f.sha256 is None]
            if unhashed:
                notes.append(
                    entry.problem(
                        f"artifact {art.id}: unverified (no sha256 for {', '.join(unhashed)})",
                        "files",
                    )
                )
    return notes
