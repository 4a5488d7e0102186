"""`recommend --format cyclonedx`: the shortlist as a CycloneDX 1.6 ML-BOM.

Built with cyclonedx-python-lib: one `machine-learning-model` component per shortlisted
candidate (the top pick marked by the `selector:top-pick` property), the requirements as the
BOM's subject (`metadata.component`) and selector as its tool. cyclonedx-python-lib 11 has no
model-card class yet (its `Component.model_card` is commented out), so the `modelCard` objects
are added to the serialized JSON, and the whole BOM is checked against the 1.6 JSON schema by
the library's validator in the tests. Unknown facts are said in properties, never invented.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from selector.provenance import canonical_json
from selector.report.decision import artifact_missing, policy_lines
from selector.report.schema import CandidateReport, Report

if TYPE_CHECKING:
    from cyclonedx.model import ExternalReference, Property
    from cyclonedx.model.component import Component
    from cyclonedx.model.license import DisjunctiveLicense

PREFIX = "selector"


def _ref(c: CandidateReport) -> str:
    return f"model:{c.id}"


def _props(pairs: list[tuple[str, Any]]) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name=f"{PREFIX}:{k}", value=str(v)) for k, v in pairs if v is not None]


def _license(c: CandidateReport) -> DisjunctiveLicense:
    """An SPDX id where the license has one; otherwise its name and the URL of its text."""
    from cyclonedx.model import XsUri
    from cyclonedx.model.license import DisjunctiveLicense
    from cyclonedx.spdx import fixup_id

    lic = c.license_terms
    spdx = fixup_id(lic.spdx) if lic.spdx else None
    if spdx is not None:
        return DisjunctiveLicense(id=spdx, url=XsUri(lic.url))
    return DisjunctiveLicense(name=lic.name, url=XsUri(lic.url))


def _references(c: CandidateReport) -> list[ExternalReference]:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri

    refs = [
        ExternalReference(
            type=ExternalReferenceType.LICENSE,
            url=XsUri(c.license_terms.url),
            comment=f"license text: {c.license_terms.name}",
        )
    ]
    a = c.artifact
    if a is not None and a.repo:
        where = f"https://huggingface.co/{a.repo}"
        if a.revision:
            where += f"/tree/{a.revision}"
        refs.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION,
                url=XsUri(where),
                comment=f"weights artifact {a.file or ''}".strip(),
            )
        )
    refs += [
        ExternalReference(
            type=ExternalReferenceType.DOCUMENTATION,
            url=XsUri(src),
            comment="catalog source for this model's facts",
        )
        for src in c.sources
    ]
    return refs


def _component(c: CandidateReport, top: bool) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity

    a = c.artifact
    missing = artifact_missing(a)
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=a.sha256)] if a and a.sha256 else []
    props = _props(
        [
            ("top-pick", "true" if top else "false"),
            ("rank", c.rank),
            ("score", f"{c.score:.4f}"),
            ("catalog-id", c.id),
            ("quantization", c.fit.quantization),
            ("placement", c.fit.placement),
            ("memory-gb", f"{c.fit.memory_gb:.2f}"),
            ("license:id", c.license_terms.id),
            ("license:version", c.license_terms.version or "not recorded"),
            ("artifact:repository", a.repo if a else None),
            ("artifact:revision", a.revision if a else None),
            ("artifact:file", a.file if a else None),
            ("artifact:size-bytes", a.size_bytes if a else None),
            (
                "artifact:sha256",
                None if a and a.sha256 else "unknown: the catalog pins no sha256 for this file",
            ),
            ("artifact:missing", ", ".join(missing) if missing else None),
            *((f"risk:{i:02d}", r) for i, r in enumerate(c.risks, start=1)),
        ]
    )
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=_ref(c),
        name=c.name,
        group=c.family,
        version=(a.revision if a and a.revision else None),
        supplier=OrganizationalEntity(name=c.organization),
        publisher=(a.repo.split("/")[0] if a and a.repo else None),
        description=f"{c.name} at {c.fit.quantization}: rank {c.rank}, score {c.score:.3f}",
        hashes=hashes,
        licenses=[_license(c)],
        external_references=_references(c),
        properties=props,
    )


def _metric(
    kind: str, value: Any, slice_: str | None = None, ci: tuple[float, float] | None = None
):
    out: dict[str, Any] = {"type": kind, "value": str(value)}
    if slice_:
        out["slice"] = slice_
    if ci is not None:
        out["confidenceInterval"] = {"lowerBound": f"{ci[0]:.4f}", "upperBound": f"{ci[1]:.4f}"}
    return out


def model_card(c: CandidateReport) -> dict[str, Any]:
    """The CycloneDX 1.6 `modelCard`: parameters in words, smoke metrics as performance metrics."""
    s = c.smoke
    metrics = []
    if s.status.value in ("passed", "failed"):
        slice_ = f"selector smoke suite v{s.suite_version}" if s.suite_version else "smoke suite"
        metrics += [
            _metric("smoke-status", s.status.value, slice_),
            _metric("probes-passed", f"{s.probes_passed}/{s.probes_total}", slice_),
        ]
        measured = [
            ("decode-tokens-per-second", s.decode_tokens_per_s, ".2f"),
            ("time-to-first-token-ms", s.time_to_first_token_ms, ".0f"),
            ("peak-memory-gib", s.peak_rss_gb, ".3f"),
        ]
        # a figure that was not measured is left out, never reported as 0
        metrics += [_metric(n, f"{v:{fmt}}", slice_) for n, v, fmt in measured if v is not None]
        for name, rate in sorted(s.capabilities.items()):
            metrics.append(
                _metric(
                    "capability-pass-rate",
                    f"{rate.rate:.4f}",
                    f"{name} ({rate.passed}/{rate.total})",
                    (rate.ci_low, rate.ci_high),
                )
            )
    else:
        metrics.append(_metric("smoke-status", s.status.value, s.reason or None))
    if c.fit.estimated_decode_tokens_per_s:
        metrics.append(
            _metric(
                "estimated-decode-tokens-per-second",
                f"{c.fit.estimated_decode_tokens_per_s:.1f}",
                "estimate for the planned hardware, not a measurement",
            )
        )
    props = _props(
        [
            ("quantization", c.fit.quantization),
            ("parameters-b", f"{c.params_b:g}"),
            ("active-parameters-b", f"{c.active_params_b:g}"),
            ("context-tokens", c.context_tokens),
            ("capabilities", ", ".join(c.capabilities) or "none listed"),
        ]
    )
    return {
        "bom-ref": f"modelcard:{c.id}",
        "modelParameters": {
            "task": "text-generation",
            "architectureFamily": "transformer",
            "modelArchitecture": f"{c.family} ({c.params_b:g}B total, {c.active_params_b:g}B "
            f"active)",
        },
        "quantitativeAnalysis": {"performanceMetrics": metrics},
        "considerations": {"technicalLimitations": list(c.risks)},
        "properties": [{"name": p.name, "value": p.value} for p in props],
    }


def _subject(report: Report) -> Component:
    """The BOM's subject: the deployment the requirements describe, pinned by their digest."""
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    p = report.provenance
    name = report.requirements.get("use_case", {}).get("name") or "deployment"
    req_sha = p.requirements.sha256 if p else None
    pairs: list[tuple[str, Any]] = [
        ("requirements:file", p.requirements.path if p else None),
        ("requirements:sha256", req_sha or "not read from a file"),
        ("requirements:understood", canonical_json(report.requirements).decode()),
        *((f"policy:{i:02d}", line) for i, line in enumerate(policy_lines(report.requirements), 1)),
    ]
    if p is not None:
        pairs += [
            ("catalog:sha256", p.catalog.sha256),
            ("catalog:date", p.catalog.date or "unknown"),
            ("catalog:date-basis", p.catalog.date_basis),
            ("hardware", p.hardware.summary),
            ("hardware:sha256", p.hardware.sha256),
            ("smoke-suite:version", p.smoke_suite.version),
            ("smoke-suite:sha256", p.smoke_suite.sha256),
        ]
    if report.candidates:
        pairs.append(("top-pick", report.candidates[0].id))
    return Component(
        type=ComponentType.APPLICATION,
        bom_ref="requirements",
        name=f"{name} (model selection requirements)",
        description="The requirements the shortlist below was selected against.",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=req_sha)] if req_sha else [],
        properties=_props(pairs),
    )


def build_bom(report: Report) -> dict[str, Any]:
    """The ML-BOM as a JSON object (CycloneDX 1.6)."""
    import datetime as dt

    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6

    stamp = dt.datetime.fromisoformat(report.generated_at.replace("Z", "+00:00"))
    tool = Component(
        type=ComponentType.APPLICATION,
        bom_ref="tool:selector",
        name="selector",
        version=report.selector_version,
        description="open-weight LLM selection advisor",
    )
    subject = _subject(report)
    models = [_component(c, i == 0) for i, c in enumerate(report.candidates)]
    bom = Bom(
        serial_number=_serial(report),
        metadata=BomMetaData(
            timestamp=stamp, tools=ToolRepository(components=[tool]), component=subject
        ),
        components=models,
    )
    bom.register_dependency(subject, models)
    data: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    cards = {_ref(c): model_card(c) for c in report.candidates}
    for comp in data.get("components", []):
        card = cards.get(comp.get("bom-ref"))
        if card is not None:
            comp["modelCard"] = card
    return data


def _serial(report: Report) -> uuid.UUID:
    """The same report gives the same serial number; any other report another one."""
    seed = canonical_json(report.model_dump(mode="json"))
    return uuid.uuid5(uuid.NAMESPACE_URL, "urn:selector:report:" + seed.decode())


def format_cyclonedx(report: Report) -> str:
    return json.dumps(build_bom(report), indent=2, ensure_ascii=False) + "\n"
