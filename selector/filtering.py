"""Hard constraints: which catalog models a deployment can use, and every reason for the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from selector.catalog import Catalog, License, ModelEntry
from selector.fit import Fit, disk_size_gb, estimate_fit
from selector.hardware import HardwareProfile
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.vocab import Capability, Clause, Modality, ReasonCode


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str


@dataclass
class Assessment:
    """One catalog model on its way through the pipeline, with everything said about it."""

    model: ModelEntry
    license: License
    fit: Fit
    disk_gb: float
    reasons: list[Reason] = field(default_factory=list)
    smoke: SmokeResult | None = None
    smoke_prediction: Fit | None = None  # the fit for the smoke run's own settings

    @property
    def excluded(self) -> bool:
        return bool(self.reasons)


def license_reasons(lic: License, req: Requirements) -> list[Reason]:
    policy = req.license
    out = []
    if policy.allow is not None:
        allowed = {a.lower() for a in policy.allow}
        if lic.id.lower() not in allowed and (lic.spdx or "").lower() not in allowed:
            out.append(
                Reason(
                    ReasonCode.LICENSE, f"{lic.name} is not in allow = [{', '.join(policy.allow)}]"
                )
            )
    if policy.commercial_use and not lic.commercial_use:
        out.append(Reason(ReasonCode.LICENSE, f"{lic.name} does not permit commercial use"))
    for clause in policy.deny_clauses:
        if lic.has(clause) or (clause is Clause.NON_COMMERCIAL and not lic.commercial_use):
            detail = next((c.detail for c in lic.clauses if c.kind is clause), "")
            out.append(
                Reason(
                    ReasonCode.LICENSE,
                    f"{lic.name} has a {clause.value} clause: {detail}".rstrip(": "),
                )
            )
    return out


def has_capability(model: ModelEntry, need: Capability) -> bool:
    if need in model.capabilities:
        return True
    if need is Capability.VISION:
        return Modality.IMAGE in model.modalities
    if need is Capability.LONG_CONTEXT:
        return model.context_tokens >= 131072
    return False


def describe_hardware(hw: HardwareProfile) -> str:
    gpus = ", ".join(f"{g.count}x {g.model} ({g.vram_gb:g} GB)" for g in hw.gpus)
    ram = f"{hw.ram_gb:g} GB RAM" if hw.ram_gb else "no RAM declared for offload"
    return f"{gpus} + {ram}" if gpus else f"CPU only, {ram}"


def static_reasons(a: Assessment, req: Requirements, hw: HardwareProfile) -> list[Reason]:
    """Every reason that does not depend on measurement, in SPEC order."""
    m, out = a.model, []
    out += license_reasons(a.license, req)
    if m.origin_country in req.origin.exclude_countries:
        out.append(
            Reason(
                ReasonCode.ORIGIN,
                f"developed in {m.origin_country} ({m.organization}), which is excluded",
            )
        )
    missing = [n.value for n in req.use_case.needs if not has_capability(m, n)]
    if missing:
        out.append(Reason(ReasonCode.CAPABILITY, f"lacks {', '.join(missing)}"))
    if m.context_tokens < req.use_case.context_tokens:
        out.append(
            Reason(
                ReasonCode.CONTEXT,
                f"native context {m.context_tokens:,} tokens "
                f"< required {req.use_case.context_tokens:,}",
            )
        )
    if req.size.max_params_b is not None and m.params_b > req.size.max_params_b:
        out.append(
            Reason(
                ReasonCode.SIZE,
                f"{m.params_b:g}B parameters > max_params_b = {req.size.max_params_b:g}",
            )
        )
    if req.size.max_disk_gb is not None and a.disk_gb > req.size.max_disk_gb:
        out.append(
            Reason(
                ReasonCode.DISK,
                f"{a.disk_gb:.1f} GB on disk at {a.fit.quantization} "
                f"> max_disk_gb = {req.size.max_disk_gb:g}",
            )
        )
    if a.fit.fits and a.fit.placement == "split" and not req.hardware.allow_offload:
        out.append(
            Reason(
                ReasonCode.FIT,
                f"needs {a.fit.memory_gb:.1f} GB at {a.fit.quantization} with "
                f"{req.use_case.context_tokens:,} context: fits {describe_hardware(hw)} only by "
                f"offloading {a.fit.cpu_memory_gb:.1f} GB to CPU RAM "
                "([hardware] allow_offload = true accepts that)",
            )
        )
    elif not a.fit.fits:
        out.append(
            Reason(
                ReasonCode.FIT,
                f"needs {a.fit.memory_gb:.1f} GB at {a.fit.quantization} with "
                f"{req.use_case.context_tokens:,} context; {describe_hardware(hw)}",
            )
        )
    return out


def latency_reasons(a: Assessment, req: Requirements) -> list[Reason]:
    """Latency targets against the measured figure when taken on the target, else the estimate.

    A measured figure counts only when it is usable (a passed suite, timed runs of enough
    tokens, a machine that was not busy) and was taken on the deployment target. A local run
    on this machine, when other hardware is declared, is evidence of behaviour: the estimate
    for the target decides, and the message cites the local figure beside it.
    """
    target = req.latency
    out: list[Reason] = []
    if not a.fit.fits:
        return out  # a model that cannot be placed has no speed to judge
    smoke = a.smoke
    usable = smoke is not None and smoke.status is SmokeStatus.PASSED and smoke.speed_usable
    on_target = smoke is not None and smoke.taken_on_target(req.hardware.declared)
    use_measured = usable and on_target
    here = ""
    if usable and not on_target and smoke is not None:
        here = (
            f" (measured {smoke.decode_tokens_per_s:.1f} tokens/s on this machine, not the target)"
        )
    value: float | None
    ttft: float | None
    if target.min_decode_tokens_per_s is not None:
        if use_measured and smoke is not None:
            value, basis, aside = smoke.decode_tokens_per_s, "measured", ""
        else:
            value, basis, aside = a.fit.estimated_decode_tokens_per_s, "estimated", here
        if value is not None and value < target.min_decode_tokens_per_s:
            out.append(
                Reason(
                    ReasonCode.LATENCY,
                    f"{basis} decode {value:.1f} tokens/s < min_decode_tokens_per_s = "
                    f"{target.min_decode_tokens_per_s:g}{aside}",
                )
            )
    if target.max_time_to_first_token_ms is not None:
        if use_measured and smoke is not None and smoke.time_to_first_token_ms is not None:
            ttft, basis = smoke.time_to_first_token_ms, "measured"
        else:
            ttft, basis = a.fit.estimated_time_to_first_token_ms, "estimated"
        if ttft is not None and ttft > target.max_time_to_first_token_ms:
            out.append(
                Reason(
                    ReasonCode.LATENCY,
                    f"{basis} time to first token {ttft:.0f} ms > max_time_to_first_token_ms = "
                    f"{target.max_time_to_first_token_ms:g}",
                )
            )
    return out


def smoke_reasons(a: Assessment) -> list[Reason]:
    if a.smoke is not None and a.smoke.status is SmokeStatus.FAILED:
        return [Reason(ReasonCode.SMOKE, f"smoke test failed: {a.smoke.reason}")]
    return []


def assess_catalog(req: Requirements, catalog: Catalog, hw: HardwareProfile) -> list[Assessment]:
    """Fit every catalog model and attach every static reason; measurement comes later."""
    out = []
    quant, ctx = req.size.quantization, req.use_case.context_tokens
    for model in sorted(catalog.models.values(), key=lambda m: m.id):
        fit = estimate_fit(model, hw, quantization=quant, context_tokens=ctx)
        a = Assessment(model, catalog.licenses[model.license], fit, disk_size_gb(model, quant))
        a.reasons = static_reasons(a, req, hw)
        out.append(a)
    return out


def finish_assessment(a: Assessment, req: Requirements) -> None:
    """Add the reasons that depend on smoke results (latency, smoke)."""
    a.reasons += latency_reasons(a, req) + smoke_reasons(a)


def refresh_estimates(
    assessments: list[Assessment], req: Requirements, hw: HardwareProfile
) -> None:
    """Recompute speed estimates after a smoke test calibrated this machine's efficiency.

    Memory does not depend on the calibration, so the static reasons stand.
    """
    quant, ctx = req.size.quantization, req.use_case.context_tokens
    for a in assessments:
        a.fit = estimate_fit(a.model, hw, quantization=quant, context_tokens=ctx)
