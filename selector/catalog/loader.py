"""Loading the shipped catalog and a user's own files into one checked `Catalog`.

Parsing never stops at the first problem: each file yields its valid entries plus a list of
`Problem`s (syntax, schema, duplicate or dangling ids). `read_catalog` is the one path both
`load_catalog` (which refuses a catalog with every reason at once) and `catalog validate`
(which lists them) take, so a file one accepts the other accepts.

The rule for a user's files (docs/catalog.md, "Private catalogs"): the shipped licenses and
GPUs are always there for them to name. Added to the shipped catalog (`--catalog PATH`), a
file may not redefine a shipped id. Replacing it (`--replace-catalog`), the files' models and
artifacts are the only ones, and a license or GPU they define takes the place of the shipped
one of the same id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from selector.catalog.schema import GPU, Artifact, CatalogFile, License, ModelEntry
from selector.errors import CatalogError
from selector.tomlio import (
    FileProblem,
    Problem,
    did_you_mean,
    load_toml,
    locate,
    validation_problems,
)

KINDS: dict[str, type[BaseModel]] = {
    "model": ModelEntry,
    "license": License,
    "gpu": GPU,
    "artifact": Artifact,
}
# The key an entry's problems point at: artifacts have no `id` of their own.
ID_KEY = {"artifact": "model"}
# What a user's files may name from the shipped catalog even when they replace it.
REFERENCE_KINDS = ("license", "gpu")


def builtin_catalog_dir() -> Path:
    """The catalog shipped in the wheel, or the repository's `catalog/` in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # installed as files, never zipped
    shipped = package / "_catalog"
    if shipped.is_dir():
        return shipped
    return package.parent / "catalog"


@dataclass(frozen=True)
class Entry:
    """A valid table entry and where it sits: its kind, position in the file's array, file."""

    kind: str
    index: int
    item: Any
    file: ParsedFile

    def line(self, key: str | None = None) -> int | None:
        key = key or ID_KEY.get(self.kind, "id")
        return locate(self.file.text, (self.kind, self.index, key))

    def problem(self, message: str, key: str | None = None) -> Problem:
        """A problem with this entry, at the line of `key` (default: its id)."""
        return Problem(self.file.path, self.line(key), message)


@dataclass
class ParsedFile:
    """One catalog file: its text, the entries that passed the schema, and what did not."""

    path: Path
    text: str = ""
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def sha256(self) -> str:
        """The digest of the file's bytes (the text is their UTF-8 decoding, without a BOM)."""
        import hashlib

        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Catalog:
    """Models, licenses and GPUs by id, with the file each came from."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    licenses: dict[str, License] = field(default_factory=dict)
    gpus: dict[str, GPU] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)
    # the files or directories it was loaded from, in load order (for provenance)
    roots: tuple[Path, ...] = ()
    # sha256 of each file as it was read and checked (provenance needs no second read)
    digests: dict[Path, str] = field(default_factory=dict)

    def artifacts_for(self, model_id: str) -> list[Artifact]:
        """The model's known artifacts, in catalog order."""
        return [a for a in self.artifacts.values() if a.model == model_id]

    def model(self, model_id: str) -> ModelEntry:
        try:
            return self.models[model_id]
        except KeyError:
            hint = did_you_mean(model_id, self.models)
            raise CatalogError(f"unknown model id {model_id!r}{hint}") from None

    def find_gpu(self, name: str) -> GPU | None:
        """Resolve a GPU by id, model name or alias, ignoring case, spaces and dashes."""
        wanted = normalize_gpu_name(name)
        for gpu in self.gpus.values():
            if wanted in gpu_names_normalized(gpu):
                return gpu
        return None

    def gpu_names(self) -> list[str]:
        return sorted(g.model for g in self.gpus.values())


def normalize_gpu_name(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def gpu_names_normalized(gpu: GPU) -> set[str]:
    """Every spelling `find_gpu` accepts for `gpu`, normalized."""
    return {normalize_gpu_name(n) for n in (gpu.id, gpu.model, *gpu.aliases)}


def catalog_files(path: Path) -> list[Path]:
    """A file as itself; a directory as its TOML files, recursively, in sorted order."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.toml") if p.is_file())
    if path.exists():  # a FIFO or a device: named as what it is, never read
        from selector.paths import file_kind

        kind = file_kind(path.stat().st_mode)
        raise CatalogError(f"{path}: is {kind}, not a catalog file or directory")
    raise CatalogError(f"{path}: no such catalog file or directory")


def parse_catalog_file(path: Path) -> ParsedFile:
    """Read and check one file against the schema; never raises for bad content.

    When the file as a whole fails the schema, every pydantic error is reported (with its line)
    and each entry is then validated on its own, so the entries that are fine still take part in
    the cross-file checks (unknown license, duplicate id).
    """
    parsed = ParsedFile(path)
    try:
        data, parsed.text = load_toml(path)
    except FileProblem as exc:
        parsed.problems.append(exc.problem)
        return parsed
    try:
        content = CatalogFile.model_validate(data)
    except ValidationError as exc:
        parsed.problems += validation_problems(exc, path, parsed.text, CatalogFile)
        for kind, schema in KINDS.items():
            items = data.get(kind)
            for index, raw in enumerate(items if isinstance(items, list) else []):
                try:
                    item = schema.model_validate(raw)
                except ValidationError:
                    continue  # already reported through the whole-file error above
                parsed.entries.append(Entry(kind, index, item, parsed))
        return parsed
    for kind in KINDS:
        for index, item in enumerate(getattr(content, kind)):
            parsed.entries.append(Entry(kind, index, item, parsed))
    return parsed


def assemble(files: Sequence[ParsedFile]) -> tuple[Catalog, list[Problem]]:
    """Put the valid entries of `files` into one Catalog; report duplicate and dangling ids.

    A later file may not redefine an id: a private model must take its own id, so a
    recommendation never silently swaps the sourced entry for another.
    """
    cat = Catalog()
    problems: list[Problem] = []
    tables: dict[str, dict[str, Any]] = {
        "model": cat.models,
        "license": cat.licenses,
        "gpu": cat.gpus,
        "artifact": cat.artifacts,
    }
    first: dict[str, Entry] = {}
    for parsed in files:
        for entry in parsed.entries:
            key = f"{entry.kind}:{entry.item.id}"
            table = tables[entry.kind]
            if entry.item.id in table:
                earlier = first[key]
                line = earlier.line()  # located only on error: locating costs a scan of the file
                where = f"{earlier.file.path}:{line}" if line else str(earlier.file.path)
                problems.append(
                    entry.problem(
                        f"duplicate {entry.kind} id {entry.item.id!r} (first defined at {where})"
                    )
                )
                continue
            table[entry.item.id] = entry.item
            cat.origin[key] = parsed.path
            first[key] = entry
    for parsed in files:
        for entry in parsed.entries:
            if entry.kind == "artifact" and entry.item.model not in cat.models:
                hint = did_you_mean(entry.item.model, cat.models)
                problems.append(
                    entry.problem(f"artifact names unknown model {entry.item.model!r}{hint}")
                )
                continue
            if entry.kind != "model" or cat.origin.get(f"model:{entry.item.id}") != parsed.path:
                continue
            if entry.item.license not in cat.licenses:
                hint = did_you_mean(entry.item.license, cat.licenses)
                problems.append(
                    entry.problem(
                        f"model {entry.item.id!r} names unknown license "
                        f"{entry.item.license!r}{hint}",
                        key="license",
                    )
                )
    return cat, problems


def parse_paths(paths: Sequence[Path]) -> tuple[list[ParsedFile], list[Problem]]:
    """Parse every catalog file under `paths`; a missing path is a problem, not an exception."""
    files: list[ParsedFile] = []
    problems: list[Problem] = []
    for root in paths:
        try:
            names = catalog_files(root)
        except CatalogError as exc:
            problems.append(Problem(root, None, str(exc).removeprefix(f"{root}: ")))
            continue
        files += [parse_catalog_file(name) for name in names]
    return files, problems


@dataclass
class CatalogRead:
    """Everything `read_catalog` found: the catalog, the files in load order, the problems."""

    catalog: Catalog
    files: list[ParsedFile]
    problems: list[Problem]
    private: list[ParsedFile]  # the files under `extra`: the ones a user asks about


def read_catalog(
    extra: Sequence[Path] = (),
    *,
    replace: bool = False,
    shipped: bool = True,
    base: Path | None = None,
    today: dt.date | None = None,
) -> CatalogRead:
    """Parse the shipped catalog (`base`, else the built-in one; none without `shipped`) and
    the `extra` paths, and check them together by the rule in this module's docstring."""
    from selector.catalog.checks import consistency_problems  # checks imports this module

    shipped_root = (base or builtin_catalog_dir()) if shipped else None
    shipped_files, problems = parse_paths([shipped_root] if shipped_root else [])
    private, more = parse_paths(extra)
    problems += more
    if replace:
        own = {(e.kind, e.item.id) for f in private for e in f.entries}
        for f in shipped_files:
            f.entries = [
                e for e in f.entries if e.kind in REFERENCE_KINDS and (e.kind, e.item.id) not in own
            ]
        shipped_files = [f for f in shipped_files if f.entries or f.problems]
    files = shipped_files + private
    for parsed in files:
        problems += parsed.problems
    cat, assembly = assemble(files)
    problems += assembly + consistency_problems(files, cat, today=today)
    order = {parsed.path: i for i, parsed in enumerate(files)}
    problems.sort(key=lambda p: (order.get(p.file, -1) if p.file else -1, p.line or 0))
    # what the catalog was read from, for provenance: with `replace`, the shipped files that
    # still give it a license or a GPU
    used: list[Path] = [f.path for f in shipped_files] if replace else []
    roots = used if replace else ([shipped_root] if shipped_root else [])
    digests = {f.path: f.sha256() for f in files if not f.problems}
    cat = dataclasses.replace(cat, roots=(*roots, *extra), digests=digests)
    return CatalogRead(cat, files, problems, private)


def load_catalog(
    extra: Sequence[Path] = (), *, replace: bool = False, base: Path | None = None
) -> Catalog:
    """The built-in catalog plus `extra` paths (with `replace`: their models instead of the
    shipped ones; see this module's docstring).

    Raises CatalogError listing every problem `catalog validate` would report, one per line.
    """
    from selector.catalog import cache

    roots: list[Path] = [base or builtin_catalog_dir(), *extra]
    try:
        key = cache.catalog_key([f for root in roots for f in catalog_files(root)], replace)
    except (CatalogError, OSError):
        key = None  # a missing path: let the parse below report it
    cached = cache.load_cached(key) if key else None
    if cached is not None:
        return cached
    read = read_catalog(extra, replace=replace, base=base)
    if read.problems:
        raise CatalogError("\n".join(str(p) for p in read.problems))
    if key:
        cache.store(key, read.catalog)
    return read.catalog
