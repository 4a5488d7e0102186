"""Hard constraints: which catalog models a deployment can use, and every reason for the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from selector.catalog import Catalog, License, ModelEntry
from selector.catalog.schema import Artifact
from selector.fit import Fit
from selector.fit.deploy import Deployment, plan_deployment
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
        detail = (
            f" ({a.fit.notes[-1]})" if a.fit.engine in ("vllm", "sglang") and a.fit.notes else ""
        )
        out.append(
            Reason(
                ReasonCode.FIT,
                f"needs {a.fit.memory_gb:.1f} GB at {a.fit.quantization} with "
                f"{req.use_case.context_tokens:,} context; {describe_hardware(hw)}{detail}",
            )
        )
    out += concurrency_reasons(a, req)
    return out


def concurrency_reasons(a: Assessment, req: Requirements) -> list[Reason]:
    """The KV cache must hold `concurrent_sessions` sessions of the context at once."""
    f, sessions = a.fit, req.use_case.concurrent_sessions
    if not f.fits or f.max_concurrency is None:
        return []
    replicas = f.data_parallel or 1
    held = f.max_concurrency * replicas
    if held >= sessions:
        return []
    where = f" per replica x {replicas} replicas" if replicas > 1 else ""
    return [
        Reason(
            ReasonCode.FIT,
            f"KV cache holds {f.max_concurrency:.2f} sessions of "
            f"{req.use_case.context_tokens:,} tokens{where} at {f.quantization} "
            f"({f.engine}, TP {f.tensor_parallel}) < concurrent_sessions = {sessions}",
        )
    ]


def measured_on_target(smoke: SmokeResult | None, declared: bool) -> bool:
    """A usable measurement taken on the deployment target, so it stands for the target's speed.

    Usable: a passed suite, timed runs of enough tokens, a machine that was not busy. On the
    target: an endpoint (it runs on the serving hardware), or this machine when no hardware is
    declared. A local run under declared hardware is evidence of behaviour, not the target's
    figure.
    """
    return (
        smoke is not None
        and smoke.status is SmokeStatus.PASSED
        and smoke.speed_usable
        and smoke.taken_on_target(declared)
    )


def decode_figure(smoke: SmokeResult | None, fit: Fit, declared: bool) -> tuple[float | None, str]:
    """The decode speed that stands for the deployment: measured on the target, else the
    estimate (with its basis word). Filters, reports and decision support all read this."""
    if measured_on_target(smoke, declared) and smoke is not None:
        return smoke.decode_tokens_per_s, "measured"
    return fit.estimated_decode_tokens_per_s, "estimated"


def latency_reasons(a: Assessment, req: Requirements) -> list[Reason]:
    """Latency targets against the measured figure when taken on the target, else the estimate
    (`decode_figure`); a local figure under declared hardware is cited beside the estimate."""
    target = req.latency
    out: list[Reason] = []
    if not a.fit.fits:
        return out  # a model that cannot be placed has no speed to judge
    smoke, declared = a.smoke, req.hardware.declared
    use_measured = measured_on_target(smoke, declared)
    here = ""
    if (
        smoke is not None
        and smoke.status is SmokeStatus.PASSED
        and smoke.speed_usable
        and not use_measured
        and smoke.decode_tokens_per_s is not None
    ):
        here = (
            f" (measured {smoke.decode_tokens_per_s:.1f} tokens/s on this machine, not the target)"
        )
    ttft: float | None
    if target.min_decode_tokens_per_s is not None:
        value, basis = decode_figure(smoke, a.fit, declared)
        aside = "" if use_measured else here
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
    """A capability the run tested (the needed ones, the team's own, and the always-on
    instruction following and structured output) whose probes fail excludes the model, one
    reason per capability; docs/smoke.md has the rule."""
    from selector.smoke.stats import CAPABILITY_PASS_RATE, failing_capabilities

    if a.smoke is None or a.smoke.status is not SmokeStatus.FAILED:
        return []
    failing = failing_capabilities(a.smoke.capabilities)
    if not failing:
        return [Reason(ReasonCode.SMOKE, f"smoke test failed: {a.smoke.reason}")]
    out = []
    for name in failing:
        r = a.smoke.capabilities[name]
        out.append(
            Reason(
                ReasonCode.SMOKE,
                f"smoke test failed {name}: {r.passed}/{r.total} probe runs passed "
                f"(95% interval {r.ci_low:.2f}-{r.ci_high:.2f}; needs {CAPABILITY_PASS_RATE:.0%})",
            )
        )
    return out


def assess_catalog(req: Requirements, catalog: Catalog, hw: HardwareProfile) -> list[Assessment]:
    """Fit every catalog model and attach every static reason; measurement comes later.

    Disk size is the pinned artifact's when the catalog knows it, else the estimate.
    """
    from selector.weights.artifacts import artifact_disk_gb

    out = []
    deployment = Deployment.from_requirements(req)
    for model in sorted(catalog.models.values(), key=lambda m: m.id):
        plan = plan_deployment(model, hw, deployment, catalog.artifacts_for(model.id))
        disk = artifact_disk_gb(catalog, model.id, plan.fit.quantization) or plan.disk_gb
        a = Assessment(model, catalog.licenses[model.license], plan.fit, disk)
        a.reasons = static_reasons(a, req, hw)
        out.append(a)
    return out


def finish_assessment(a: Assessment, req: Requirements) -> None:
    """Add the reasons that depend on smoke results (latency, smoke)."""
    a.reasons += latency_reasons(a, req) + smoke_reasons(a)


def refresh_estimates(
    assessments: list[Assessment],
    req: Requirements,
    hw: HardwareProfile,
    artifacts: dict[str, list[Artifact]] | None = None,
) -> None:
    """Recompute speed estimates after a smoke test calibrated this machine's efficiency.

    Memory does not depend on the calibration, so the static reasons stand.
    """
    artifacts = artifacts or {}
    deployment = Deployment.from_requirements(req)
    for a in assessments:
        a.fit = plan_deployment(a.model, hw, deployment, artifacts.get(a.model.id, [])).fit
