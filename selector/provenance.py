"""Provenance: which exact inputs produced a report (SPEC §7 `provenance`).

An audit six months later asks which requirements file, which catalog, which hardware and
which probe suite led to a choice. Every digest here is a sha256 of bytes that a reader can
recompute: the requirements file as read, the catalog files as loaded, a canonical JSON of the
hardware and of the probe suite. Each changes exactly when its input does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from selector import __version__

if TYPE_CHECKING:
    from selector.catalog import Catalog
    from selector.hardware import HardwareProfile
    from selector.smoke.probes import SuitePlan

_CHUNK = 1 << 20


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class RequirementsProvenance(_Out):
    path: str | None = Field(None, description="the requirements file as given; None: not a file")
    sha256: str | None = Field(None, description="sha256 of the file's bytes as read")


class CatalogFileDigest(_Out):
    name: str = Field(description="shipped/<path> or extra[<i>]/<path>, relative to its root")
    sha256: str


class CatalogProvenance(_Out):
    sha256: str = Field(description="over every file's name and sha256, in load order")
    date: str | None = Field(None, description="ISO date the catalog's facts are as of")
    date_basis: str = Field("", description="where `date` comes from")
    models: int = 0
    files: list[CatalogFileDigest] = Field(default_factory=list)


class HardwareProvenance(_Out):
    source: str
    summary: str
    sha256: str = Field(description="canonical JSON of the profile, free-memory figures left out")


class SuiteProvenance(_Out):
    version: str
    sha256: str = Field(description="canonical JSON of the probe suite (prompts, checkers, args)")


class Provenance(_Out):
    """The inputs of one run, each pinned by a digest a reader can recompute."""

    selector_version: str = __version__
    generated_at: str
    requirements: RequirementsProvenance
    catalog: CatalogProvenance
    hardware: HardwareProvenance
    smoke_suite: SuiteProvenance


# ------------------------------------------------------------------------------- digests


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks (weights files are gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(data: Any) -> bytes:
    """One byte string per value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_json(data: Any) -> str:
    return sha256_bytes(canonical_json(data))


def requirements_provenance(path: Path | None) -> RequirementsProvenance:
    """The file's digest; None for requirements built in code (no file was read)."""
    if path is None:
        return RequirementsProvenance()
    return RequirementsProvenance(path=str(path), sha256=sha256_file(path))


def catalog_file_digests(
    roots: Iterable[Path], *, shipped: Path | None, known: Mapping[Path, str] | None = None
) -> list[CatalogFileDigest]:
    """Each catalog file in load order, named relative to its root so the names (and so the
    digest) do not depend on where selector is installed. `known`: the digests taken when
    the files were read and checked (Catalog.digests); a file without one is read again."""
    known = known or {}
    from selector.catalog.loader import catalog_files

    out = []
    extra = 0
    home = shipped.resolve() if shipped is not None else None
    for root in roots:
        # the shipped directory, or one of its files (what --replace-catalog still reads)
        where = root.resolve()
        if home is not None and (where == home or home in where.parents):
            label, base = "shipped", home
        else:
            label, base = f"extra[{extra}]", None
            extra += 1
        for path in catalog_files(root):
            if base is not None:
                rel = path.resolve().relative_to(base).as_posix()
            else:
                rel = path.name if root.is_file() else path.relative_to(root).as_posix()
            digest = known.get(path) or sha256_file(path)
            out.append(CatalogFileDigest(name=f"{label}/{rel}", sha256=digest))
    return out


def catalog_date(catalog: Catalog) -> tuple[str | None, str]:
    """The date the catalog's facts are as of, and where it comes from.

    The newest `last_verified` of any model or license entry where the catalog records one;
    otherwise the newest model release date, which is the latest fact the catalog states (a
    file's modification time is not content: it changes on checkout and copy).
    """
    checked = [m.last_verified for m in catalog.models.values() if m.last_verified is not None]
    checked += [lic.last_verified for lic in catalog.licenses.values() if lic.last_verified]
    if checked:
        return max(checked).isoformat(), "newest last_verified of the catalog's entries"
    released = [m.release_date for m in catalog.models.values()]
    if released:
        return (
            max(released).isoformat(),
            "newest model release_date (no entry records last_verified)",
        )
    return None, "the catalog holds no dated entry"


def catalog_provenance(catalog: Catalog) -> CatalogProvenance:
    from selector.catalog.loader import builtin_catalog_dir

    files = catalog_file_digests(
        catalog.roots, shipped=builtin_catalog_dir(), known=catalog.digests
    )
    listing = "".join(f"{f.name}\0{f.sha256}\n" for f in files).encode()
    date, basis = catalog_date(catalog)
    return CatalogProvenance(
        sha256=sha256_bytes(listing),
        date=date,
        date_basis=basis,
        models=len(catalog.models),
        files=files,
    )


def hardware_summary(hw: HardwareProfile) -> str:
    gpus = ", ".join(f"{g.count}x {g.model} ({g.vram_gb:g} GB)" for g in hw.gpus) or "no GPU"
    cpu = f"; CPU {hw.cpu_model}" if hw.cpu_model else ""
    return f"{hw.source}: {gpus}; {hw.ram_gb:g} GB RAM{cpu}"


def hardware_provenance(hw: HardwareProfile) -> HardwareProvenance:
    """The profile the fit planned against; free memory changes minute to minute, so it is
    left out of the digest (it is not what the recommendation was about)."""
    data = hw.model_dump(mode="json", exclude={"ram_available_gb"})
    for gpu in data.get("gpus", []):
        gpu.pop("free_vram_gb", None)
    return HardwareProvenance(
        source=hw.source, summary=hardware_summary(hw), sha256=digest_json(data)
    )


def suite_fingerprint(
    capabilities: Sequence[str] | None = None,
    files: Sequence[Path] = (),
    context_tokens: int | None = None,
) -> SuiteProvenance:
    """The probe suite a run asks: its version and a digest of the probe files' bytes (the
    built-in file of each capability probed, default all, then the team's own files in
    order), the long-context target and the pass rule.

    Read as bytes, not parsed: a catalog-only run pins the suite without loading the probes
    (their JSON Schema checks import jsonschema). A team file that cannot be read digests as
    `unreadable` (reading it for real is the requirements loader's job)."""
    from selector.smoke.probes import BUILTIN_CAPABILITIES, SUITE_VERSION, builtin_suite_text
    from selector.smoke.stats import CAPABILITY_PASS_RATE

    wanted = BUILTIN_CAPABILITIES if capabilities is None else tuple(capabilities)
    digests = [
        {"file": f"builtin/{c}.toml", "sha256": _sha256_text(builtin_suite_text(c)[1])}
        for c in wanted
    ]
    for path in files:
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            digest = "unreadable"
        digests.append({"file": Path(path).name, "sha256": digest})
    content = {
        "version": SUITE_VERSION,
        "capability_pass_rate": CAPABILITY_PASS_RATE,
        "context_tokens": context_tokens,
        "files": digests,
    }
    return SuiteProvenance(version=SUITE_VERSION, sha256=digest_json(content))


def plan_fingerprint(plan: SuitePlan) -> SuiteProvenance:
    """suite_fingerprint of a loaded plan (the team's files are its `sources`)."""
    return suite_fingerprint(
        plan.capabilities, [Path(s) for s in plan.sources], plan.context_tokens
    )


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_provenance(
    requirements_path: Path | None,
    catalog: Catalog,
    hw: HardwareProfile,
    generated_at: dt.datetime | str,
    suite: SuiteProvenance | None = None,
) -> Provenance:
    stamp = (
        generated_at
        if isinstance(generated_at, str)
        else generated_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )
    return Provenance(
        generated_at=stamp,
        requirements=requirements_provenance(requirements_path),
        catalog=catalog_provenance(catalog),
        hardware=hardware_provenance(hw),
        smoke_suite=suite or suite_fingerprint(),
    )
