"""`catalog validate`: every problem in a set of catalog files, beyond what the schema checks.

The schema (schema.py) already refuses what one entry alone gets wrong: a missing `sources`
list, an unparsable date, active > total parameters, KV heads that do not divide the attention
heads, a mixture-of-experts model without active parameters, more KV layers than layers, a
benchmark without a source. This module adds the checks that need the whole catalog or today's
date, and collects everything, across all files, into one report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog.artifact_checks import (
    artifact_notes,
    artifact_problems,
    duplicate_file_problems,
)
from selector.catalog.loader import (
    Catalog,
    Entry,
    ParsedFile,
    gpu_names_normalized,
    read_catalog,
)
from selector.catalog.schema import GPU, Artifact, License, ModelEntry
from selector.tomlio import Problem
from selector.vocab import Architecture, Clause

# Clause kinds whose meaning depends on a number the reviewer must see.
_THRESHOLD_CLAUSES = frozenset({Clause.MAU_CAP, Clause.REVENUE_CAP})


@dataclass(frozen=True)
class ValidationReport:
    """What `validate_catalog` found: `ok` when there are no problems."""

    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    models: int = 0
    licenses: int = 0
    gpus: int = 0
    artifacts: int = 0
    notes: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """One `file:line: message` line per problem, in file order."""
        return [str(p) for p in self.problems]

    def summary(self) -> str:
        unpinned = sum(n.message.endswith("unpinned (no revision)") for n in self.notes)
        unhashed = sum("unverified (no sha256" in n.message for n in self.notes)
        pins = f" ({unpinned} unpinned, {unhashed} unverified)" if self.notes else ""
        return (
            f"{len(self.files)} files, {self.models} models, {self.licenses} licenses, "
            f"{self.gpus} GPUs, {self.artifacts} artifacts{pins}: "
            + ("ok" if self.ok else f"{len(self.problems)} problems")
        )


def validate_catalog(
    paths: Sequence[Path] | None,
    *,
    include_builtin: bool = True,
    today: dt.date | None = None,
    replace: bool = False,
) -> ValidationReport:
    """Check `paths` (files or directories) as `recommend --catalog PATH [--replace-catalog]`
    would load them: with `include_builtin`, together with the shipped catalog, so that their
    license ids resolve and their model ids do not collide with shipped ones (loader.py's rule).
    """
    read = read_catalog(paths or [], replace=replace, shipped=include_builtin, today=today)
    cat = read.catalog
    return ValidationReport(
        files=[parsed.path for parsed in read.files],
        problems=read.problems,
        models=len(cat.models),
        licenses=len(cat.licenses),
        gpus=len(cat.gpus),
        artifacts=len(cat.artifacts),
        # notes (unpinned, unverified artifacts) concern the files asked about
        notes=artifact_notes(read.private if paths else read.files),
    )


def consistency_problems(
    files: Sequence[ParsedFile], cat: Catalog, *, today: dt.date | None = None
) -> list[Problem]:
    """Checks on valid entries that the per-entry schema cannot make."""
    today = today or dt.date.today()
    problems: list[Problem] = []
    for parsed in files:
        for entry in parsed.entries:
            if isinstance(entry.item, ModelEntry):
                problems += _model_problems(entry, entry.item, today)
            elif isinstance(entry.item, License):
                problems += _license_problems(entry, entry.item)
            elif isinstance(entry.item, Artifact):
                problems += artifact_problems(entry, entry.item)
    problems += _gpu_alias_problems(files) + duplicate_file_problems(files)
    return problems


def _model_problems(entry: Entry, model: ModelEntry, today: dt.date) -> list[Problem]:
    problems = []
    if model.release_date > today:
        problems.append(
            entry.problem(f"release_date {model.release_date} is in the future", "release_date")
        )
    if (
        model.architecture is Architecture.DENSE
        and model.moe is None
        and model.active_params_b is not None
        and model.active_params_b < model.params_b
        and not model.notes
    ):
        problems.append(
            entry.problem(
                "a dense model with active_params_b below params_b needs a note saying why",
                "active_params_b",
            )
        )
    fields = set(ModelEntry.model_fields)
    for name in model.unverified:
        head = name.split(".", 1)[0].split("[", 1)[0]
        if head not in fields:
            problems.append(entry.problem(f"unverified names unknown field {name!r}", "unverified"))
    for name in model.gguf_files:
        if not name.lower().endswith(".gguf") or "/" in name:
            problems.append(
                entry.problem(f"gguf_files entry {name!r} is not a bare *.gguf name", "gguf_files")
            )
    return problems


def _license_problems(entry: Entry, lic: License) -> list[Problem]:
    problems = []
    for clause in lic.clauses:
        if clause.kind in _THRESHOLD_CLAUSES and not clause.threshold:
            problems.append(
                entry.problem(
                    f"license {lic.id!r}: a {clause.kind.value} clause needs its threshold",
                    "clauses",
                )
            )
    return problems


def _gpu_alias_problems(files: Sequence[ParsedFile]) -> list[Problem]:
    """A name that resolves to two GPUs makes `find_gpu` depend on file order."""
    owner: dict[str, str] = {}
    problems = []
    for parsed in files:
        for entry in parsed.entries:
            if not isinstance(entry.item, GPU):
                continue
            for name in sorted(gpu_names_normalized(entry.item)):
                first = owner.setdefault(name, entry.item.id)
                if first != entry.item.id:
                    problems.append(
                        entry.problem(
                            f"GPU {entry.item.id!r}: name {name!r} already resolves to "
                            f"GPU {first!r}",
                            "aliases",
                        )
                    )
    return problems
