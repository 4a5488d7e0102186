"""`selector lock`: pin the chosen model, its exact weights and the inputs that chose it.

`selector.lock.json` is a file a team commits next to its deployment config. It holds what
`selector verify` needs months later without the original files: the requirements as
understood, the hardware planned against, the locked model's catalog entry and license as they
were (to say what changed since), and the artifact's sha256. The pydantic model below is its
schema. Every top-level field is sealed with its digest, so a hand edit is caught and named;
the seals are tamper-evidence against mistakes, not a signature (anyone can recompute them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from selector.errors import ExitCode, InputError, SelectorError
from selector.hardware import HardwareProfile
from selector.provenance import Provenance, digest_json, sha256_file

LOCK_VERSION = 1
# Bookkeeping that changes without the facts changing: not part of an entry's digest.
UNSEALED_ENTRY_KEYS = frozenset({"last_verified"})

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class LockError(InputError):
    """A lock file that cannot be used: unreadable, not JSON, schema, or edited by hand."""


class LockRefused(SelectorError):
    """The run worked but the named model cannot be locked (excluded, or a file that is not
    the pinned one): exit 1, like a run in which no candidate survives."""

    exit_code = ExitCode.NONE_SURVIVES


class _Lock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class LockedFile(_Lock):
    name: str
    size_bytes: int | None = Field(None, ge=0)
    sha256: Sha256 | None = None


class LockedArtifact(_Lock):
    """The exact weights approved: every file with its size and sha256, or what is missing."""

    format: str = "gguf"
    quantization: str
    repo: str | None = None
    revision: str | None = None
    files: list[LockedFile] = Field(default_factory=list)
    source: str | None = Field(None, description="where the catalog read the pins")
    sha256_source: Literal["catalog", "file"] | None = Field(
        None, description="catalog: the catalog's pin; file: hashed from --weights at lock time"
    )
    missing: list[str] = Field(default_factory=list, description="what is not pinned")


class LockedEvidence(_Lock):
    """Why this model: its rank and score, its fit, and the smoke result if one ran."""

    rank: int
    score: float
    score_breakdown: dict[str, float]
    placement: str
    memory_gb: float
    estimated_decode_tokens_per_s: float | None = None
    smoke_status: str
    smoke_reason: str = ""
    probes_passed: int = 0
    probes_total: int = 0
    decode_tokens_per_s: float | None = None
    time_to_first_token_ms: float | None = None
    tested_file_sha256: str | None = None


class LockedEntry(_Lock):
    """A catalog entry as it was at lock time, and its digest, to diff against later."""

    id: str
    sha256: Sha256
    data: dict[str, Any]


class Lock(_Lock):
    lock_version: Literal[1] = 1
    selector_version: str
    created_at: str
    model_id: str
    model_name: str
    chosen_as: Literal["top pick", "named"]
    top_pick: str
    engine: str
    quantization: str
    artifact: LockedArtifact
    evidence: LockedEvidence
    requirements_sha256: Sha256 | None
    catalog_sha256: Sha256
    smoke: bool = Field(description="whether smoke tests ran when the lock was made")
    provenance: Provenance
    requirements: dict[str, Any] = Field(description="the requirements as understood")
    hardware: HardwareProfile
    catalog_entry: LockedEntry
    license_entry: LockedEntry
    organization_models: list[str] = Field(
        description="the catalog's models from the same organization at lock time"
    )
    seals: dict[str, Sha256] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------- making


def entry_snapshot(entry: BaseModel) -> LockedEntry:
    data = entry.model_dump(mode="json", exclude=set(UNSEALED_ENTRY_KEYS))
    return LockedEntry(id=str(data.get("id")), sha256=digest_json(data), data=data)


def _seal(fields: dict[str, Any]) -> dict[str, str]:
    return {k: digest_json(v) for k, v in fields.items() if k != "seals"}


def seal(lock: Lock) -> Lock:
    data = lock.model_dump(mode="json")
    return lock.model_copy(update={"seals": _seal(data)})


def _artifact(catalog: Any, candidate: Any, weights: Path | None) -> LockedArtifact:
    """The candidate's artifact with every file from the catalog; `weights` hashed when given."""
    from selector.report.decision import artifact_missing

    a = candidate.artifact
    quant = candidate.fit.quantization
    files: list[LockedFile] = []
    source = None
    if a is not None and a.file:
        match = next(
            (
                art
                for art in catalog.artifacts_for(candidate.id)
                if art.repo == a.repo and art.files and art.files[0].name == a.file
            ),
            None,
        )
        if match is not None:
            source = str(match.source)
            files = [
                LockedFile(name=f.name, size_bytes=f.size_bytes, sha256=f.sha256)
                for f in match.files
            ]
        else:
            files = [LockedFile(name=a.file, size_bytes=a.size_bytes, sha256=a.sha256)]
    pinned = bool(files) and all(f.sha256 for f in files)
    sha_source: Literal["catalog", "file"] | None = "catalog" if pinned else None
    if weights is not None:
        files, sha_source = _weights_files(weights, files), "file"
    missing = [
        m
        for m in artifact_missing(a)
        if not (sha_source == "file" and m in ("sha256", "size", "file name"))
    ]
    return LockedArtifact(
        quantization=quant,
        repo=a.repo if a else None,
        revision=a.revision if a else None,
        files=files,
        source=source,
        sha256_source=sha_source,
        missing=missing,
    )


def _weights_files(weights: Path, files: list[LockedFile]) -> list[LockedFile]:
    """Pin the file the team will deploy; refuse one that is not the catalog's pinned file."""
    if not weights.is_file():
        raise InputError(f"--weights {weights}: no such file")
    sha, size = sha256_file(weights), weights.stat().st_size
    if len(files) > 1:
        raise InputError(
            f"--weights {weights}: the artifact is split into {len(files)} files; "
            "lock it from the catalog's pins instead"
        )
    if files and files[0].sha256 and files[0].sha256 != sha:
        raise LockRefused(
            f"--weights {weights}: sha256 {sha} is not the catalog's pinned "
            f"{files[0].sha256} for {files[0].name}"
        )
    name = files[0].name if files else weights.name
    return [LockedFile(name=name, size_bytes=size, sha256=sha)]


def choose(report: Any, model_id: str | None) -> Any:
    """The candidate to lock: the top pick, or `model_id` if it is on the shortlist."""
    if not report.candidates:
        raise LockRefused("no candidate survives the requirements: nothing to lock")
    if model_id is None:
        return report.candidates[0]
    for c in report.candidates:
        if c.id == model_id:
            return c
    for e in report.excluded:
        if e.id == model_id:
            why = "; ".join(f"{r.code.value}: {r.message}" for r in e.reasons)
            raise LockRefused(f"{model_id} is excluded by the requirements ({why})")
    raise InputError(f"{model_id!r} is not a catalog model")  # caught earlier by catalog.model


def make_lock(
    report: Any,
    catalog: Any,
    hardware: HardwareProfile,
    model_id: str | None = None,
    *,
    weights: Path | None = None,
    smoke: bool = False,
) -> Lock:
    """The lock for `model_id` (default: the top pick) of a finished recommendation."""
    c = choose(report, model_id)
    model = catalog.model(c.id)
    lic = catalog.licenses[model.license]
    prov = report.provenance
    if prov is None:
        raise InputError("the report carries no provenance: run it through pipeline.recommend")
    s = c.smoke
    measured = s.status.value in ("passed", "failed")
    lock = Lock(
        selector_version=report.selector_version,
        created_at=report.generated_at,
        model_id=c.id,
        model_name=c.name,
        chosen_as="named" if model_id is not None else "top pick",
        top_pick=report.candidates[0].id,
        engine=c.fit.engine or "llama.cpp",
        quantization=c.fit.quantization,
        artifact=_artifact(catalog, c, weights),
        evidence=LockedEvidence(
            rank=c.rank,
            score=c.score,
            score_breakdown=c.score_breakdown.terms(),
            placement=c.fit.placement,
            memory_gb=c.fit.memory_gb,
            estimated_decode_tokens_per_s=c.fit.estimated_decode_tokens_per_s,
            smoke_status=s.status.value,
            smoke_reason=s.reason
            if smoke
            else "not run: `selector lock` smoke-tests only with --smoke",
            probes_passed=s.probes_passed,
            probes_total=s.probes_total,
            decode_tokens_per_s=s.decode_tokens_per_s if measured else None,
            time_to_first_token_ms=s.time_to_first_token_ms if measured else None,
            tested_file_sha256=s.model_sha256 or None,
        ),
        requirements_sha256=prov.requirements.sha256,
        catalog_sha256=prov.catalog.sha256,
        smoke=smoke,
        provenance=prov,
        requirements=report.requirements,
        hardware=hardware,
        catalog_entry=entry_snapshot(model),
        license_entry=entry_snapshot(lic),
        organization_models=sorted(
            m.id for m in catalog.models.values() if m.organization == model.organization
        ),
    )
    return seal(lock)


def lock_requirements(
    requirements_path: Path,
    catalog: Any,
    model_id: str | None = None,
    *,
    plan: Any = None,
    progress: Any = None,
    weights: Path | None = None,
) -> Lock:
    """Run the recommendation for `requirements_path` and lock its top pick (or `model_id`).

    Without a smoke plan nothing is smoke-tested, so the choice is a function of the
    requirements, the catalog and the hardware alone: `verify` can rerun it exactly.
    """
    from selector.hardware import resolve_hardware
    from selector.pipeline import SmokePlan, recommend
    from selector.requirements import load_requirements

    req = load_requirements(requirements_path, catalog)
    if model_id is not None:
        catalog.model(model_id)  # an unknown id: CatalogError with a did-you-mean hint
    hw = resolve_hardware(req.hardware, catalog)
    plan = plan or SmokePlan(enabled=False)
    report = recommend(
        req, catalog, hw, plan, progress=progress, requirements_path=requirements_path
    )
    return make_lock(report, catalog, hw, model_id, weights=weights, smoke=plan.enabled)


def lock_text(lock: Lock) -> str:
    return lock.model_dump_json(indent=2) + "\n"


# --------------------------------------------------------------------------------- reading


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_lock(path: Path) -> Lock:
    """Read and check a lock file; every problem is one LockError line naming the field."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LockError(f"{path}: no such lock file") from None
    except OSError as exc:
        raise LockError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f":{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise LockError(f"{path}{where}: not a JSON lock file ({exc})") from None
    if not isinstance(data, dict):
        raise LockError(f"{path}: a lock file is a JSON object, not {type(data).__name__}")
    version = data.get("lock_version")
    if version != LOCK_VERSION:
        raise LockError(
            f"{path}: field 'lock_version': {version!r} is not a lock version this selector "
            f"reads ({LOCK_VERSION})"
        )
    try:
        lock = Lock.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise LockError(f"{path}: field '{_where(err['loc'])}': {err['msg']}{more}") from None
    _check_seals(path, data, lock)
    _check_requirements(path, lock)
    return lock


def _check_requirements(path: Path, lock: Lock) -> None:
    """The locked requirements must still read as requirements (verify reruns them)."""
    from selector.requirements import Requirements

    try:
        Requirements.model_validate(lock.requirements)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise LockError(
            f"{path}: field '{_where(('requirements', *err['loc']))}': {err['msg']}"
        ) from None


def _check_seals(path: Path, data: dict[str, Any], lock: Lock) -> None:
    """Name the first field whose content does not match the digest `selector lock` wrote."""
    for entry_field in ("catalog_entry", "license_entry"):
        entry: LockedEntry = getattr(lock, entry_field)
        if digest_json(entry.data) != entry.sha256:
            raise LockError(
                f"{path}: field '{entry_field}.data' does not match its sha256: edited after "
                "`selector lock` wrote it; run `selector lock` again"
            )
    expected = _seal(data)
    for key, digest in expected.items():
        if key not in lock.seals:
            raise LockError(f"{path}: field 'seals.{key}' is missing: run `selector lock` again")
        if lock.seals[key] != digest:
            raise LockError(
                f"{path}: field '{key}' was edited after `selector lock` wrote it (its seal does "
                "not match); run `selector lock` again"
            )
    extra = sorted(set(lock.seals) - set(expected))
    if extra:
        raise LockError(
            f"{path}: field '{extra[0]}' is missing, but was sealed when the lock was written; "
            "run `selector lock` again"
        )
