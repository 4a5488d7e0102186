"""The catalog artifact a candidate is about: which pinned file, and what the report says of it."""

from __future__ import annotations

from selector.catalog import Catalog
from selector.catalog.schema import Artifact
from selector.errors import InputError
from selector.hardware import GIB
from selector.report.schema import ArtifactReport
from selector.weights.model import HashStatus, LocalWeights


def _norm(quant: str) -> str:
    from selector.fit.quant import normalize_quant

    try:
        return normalize_quant(quant)
    except ValueError:
        return quant.strip().upper()


def _completeness(art: Artifact) -> tuple[int, int, int]:
    """Sort key: pinned, hashed, sized first (lower is better)."""
    return (
        0 if art.revision else 1,
        0 if all(f.sha256 for f in art.files) else 1,
        0 if art.size_bytes is not None else 1,
    )


def gguf_artifacts(catalog: Catalog, model_id: str, quant: str | None = None) -> list[Artifact]:
    """The model's GGUF artifacts (at `quant` when given), best-pinned first, else catalog order."""
    arts = [a for a in catalog.artifacts_for(model_id) if a.format == "gguf"]
    if quant:
        want = _norm(quant)
        arts = [a for a in arts if _norm(a.quantization) == want]
    return sorted(arts, key=_completeness)  # stable: catalog order among equals


def pinned_artifact(catalog: Catalog, model_id: str, quant: str | None) -> Artifact | None:
    arts = gguf_artifacts(catalog, model_id, quant)
    return arts[0] if arts else None


# What `fetch` takes without --quant when a model has several GGUFs: the preset most
# publishers upload and the one most users run (the requirements' default is "auto", a choice
# per hardware that `fetch` has no hardware for).
FETCH_DEFAULT_QUANTIZATION = "Q4_K_M"


def artifact_for_fetch(catalog: Catalog, model_id: str, quant: str | None) -> Artifact:
    """The artifact `selector fetch ID [--quant Q]` downloads; InputError naming what exists.

    Without `--quant`: the only GGUF artifact, else the one at Q4_K_M, the common default.
    """
    catalog.model(model_id)  # unknown id: CatalogError with a did-you-mean hint
    every = gguf_artifacts(catalog, model_id)
    if not every:
        raise InputError(f"{model_id}: the catalog pins no GGUF artifact for this model")
    if quant is None and len({_norm(a.quantization) for a in every}) == 1:
        return every[0]
    wanted = quant or FETCH_DEFAULT_QUANTIZATION
    chosen = pinned_artifact(catalog, model_id, wanted)
    if chosen is None:
        have = ", ".join(sorted({a.quantization for a in every}))
        hint = "" if quant else " (give --quant)"
        raise InputError(f"{model_id}: no GGUF artifact at {wanted}{hint}; the catalog has {have}")
    return chosen


def artifact_disk_gb(catalog: Catalog, model_id: str, quant: str) -> float | None:
    """The pinned file's size in GiB, when the catalog knows it (reports prefer it to estimates)."""
    art = pinned_artifact(catalog, model_id, quant)
    if art is None or art.size_bytes is None:
        return None
    return art.size_bytes / GIB


def artifact_report(
    catalog: Catalog, model_id: str, quant: str | None, local: LocalWeights | None
) -> ArtifactReport | None:
    """The report's `artifact`: the file the smoke evidence is about when one is here (with its
    catalog artifact's pins when it matched one), else the pinned artifact at the report's
    quantization; None when neither exists."""
    art = catalog.artifacts.get(local.artifact) if local and local.artifact else None
    if local is None:
        art = pinned_artifact(catalog, model_id, quant)
    if art is not None:
        first = art.files[0] if art.files else None
        return ArtifactReport(
            repo=art.repo,
            revision=art.revision or (local.revision if local else None),
            file=first.name if first else None,
            sha256=first.sha256 if first else None,
            size_bytes=art.size_bytes,
            local_path=local.path if local else None,
            verified=local is not None and local.hash is HashStatus.VERIFIED,
        )
    if local is not None:
        return ArtifactReport(
            repo=local.repo,
            revision=local.revision,
            file=local.name,
            sha256=local.sha256,
            size_bytes=local.size_bytes,
            local_path=local.path,
            verified=False,
        )
    return None
