"""Loading the shipped catalog and a user's own files into one checked `Catalog`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from selector.catalog.schema import GPU, CatalogFile, License, ModelEntry
from selector.errors import CatalogError
from selector.tomlio import describe_validation_error, did_you_mean, read_toml


def builtin_catalog_dir() -> Path:
    """The catalog shipped in the wheel, or the repository's `catalog/` in a source checkout."""
    shipped = resources.files("selector") / "_catalog"
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[2] / "catalog"


@dataclass(frozen=True)
class Catalog:
    """Models, licenses and GPUs by id, with the file each came from."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    licenses: dict[str, License] = field(default_factory=dict)
    gpus: dict[str, GPU] = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)

    def model(self, model_id: str) -> ModelEntry:
        try:
            return self.models[model_id]
        except KeyError:
            hint = did_you_mean(model_id, self.models)
            raise CatalogError(f"unknown model id {model_id!r}{hint}") from None

    def find_gpu(self, name: str) -> GPU | None:
        """Resolve a GPU by id, model name or alias, ignoring case, spaces and dashes."""

        def norm(s: str) -> str:
            return "".join(ch for ch in s.lower() if ch.isalnum())

        wanted = norm(name)
        for gpu in self.gpus.values():
            if wanted in {norm(gpu.id), norm(gpu.model), *(norm(a) for a in gpu.aliases)}:
                return gpu
        return None

    def gpu_names(self) -> list[str]:
        return sorted(g.model for g in self.gpus.values())


def catalog_files(path: Path) -> list[Path]:
    """A file as itself; a directory as its TOML files, recursively, in sorted order."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.toml") if p.is_file())
    raise CatalogError(f"{path}: no such catalog file or directory")


def _parse_file(path: Path) -> CatalogFile:
    data, text = read_toml(path, CatalogError)
    try:
        return CatalogFile.model_validate(data)
    except ValidationError as exc:
        lines = describe_validation_error(exc, path, text, CatalogFile)
        raise CatalogError("\n".join(lines)) from None


def load_catalog(
    extra: Sequence[Path] = (), *, replace: bool = False, base: Path | None = None
) -> Catalog:
    """The built-in catalog plus `extra` paths (or only `extra` when `replace`).

    Later files may not redefine an id: a private model must take its own id, so a
    recommendation never silently swaps the sourced entry for another.
    """
    roots: list[Path] = [] if replace else [base or builtin_catalog_dir()]
    roots += list(extra)
    files: list[Path] = []
    for root in roots:
        files += catalog_files(root)
    return build_catalog((path, _parse_file(path)) for path in files)


def build_catalog(parsed: Iterable[tuple[Path, CatalogFile]]) -> Catalog:
    cat = Catalog()
    for path, content in parsed:
        for kind, table, items in (
            ("model", cat.models, content.model),
            ("license", cat.licenses, content.license),
            ("gpu", cat.gpus, content.gpu),
        ):
            for item in items:
                key = f"{kind}:{item.id}"
                if item.id in table:
                    first = cat.origin[key]
                    raise CatalogError(
                        f"{path}: duplicate {kind} id {item.id!r} (first defined in {first})"
                    )
                table[item.id] = item  # type: ignore[index]
                cat.origin[key] = path
    for model in cat.models.values():
        if model.license not in cat.licenses:
            path = cat.origin[f"model:{model.id}"]
            hint = did_you_mean(model.license, cat.licenses)
            raise CatalogError(
                f"{path}: model {model.id!r} names unknown license {model.license!r}{hint}"
            )
    return cat
