"""The levers of the what-if: one requirements key each, with the value that lifts one kind
of exclusion, found by the filter (docs/ranking.md, "What would admit it").

A threshold is the figure the filter compared against, or the result of a search (bisection
on a monotone key, a walk down the quantization ladder, one more GPU at a time) whose every
step re-runs the filter through a `Probe`. whatif.py combines them.
"""

from __future__ import annotations

from selector.decision.fit_levers import (
    disk_lever,
    gpu_levers,
    latency_levers,
    memory_levers,
    quant_lever,
)
from selector.decision.lever import (
    Lever,
    Probe,
    R,
    set_key,
)
from selector.decision.rerun import codes
from selector.filtering import Assessment, has_capability
from selector.requirements import Requirements
from selector.vocab import Clause, ReasonCode


def _license_levers(a: Assessment, req: Requirements) -> list[Lever]:
    pol, lic, out = req.license, a.license, []
    target = frozenset({R.LICENSE})
    if pol.allow is not None:
        allowed = {x.lower() for x in pol.allow}
        if lic.id.lower() not in allowed and (lic.spdx or "").lower() not in allowed:
            spdx = lic.spdx or ""
            name = lic.id if not spdx or spdx.startswith("LicenseRef-") else spdx
            needed = [*pol.allow, name]
            out.append(
                Lever(
                    "license.allow",
                    pol.allow,
                    needed,
                    f"allow license {name}",
                    target,
                    set_key("license", "allow", needed),
                )
            )
    if pol.commercial_use and not lic.commercial_use:
        out.append(
            Lever(
                "license.commercial_use",
                True,
                False,
                f"accept a license without commercial use ({lic.name})",
                target,
                set_key("license", "commercial_use", False),
            )
        )
    denied = [
        c
        for c in pol.deny_clauses
        if lic.has(c) or (c is Clause.NON_COMMERCIAL and not lic.commercial_use)
    ]
    if denied:
        kept = [c for c in pol.deny_clauses if c not in denied]
        out.append(
            Lever(
                "license.deny_clauses",
                pol.deny_clauses,
                kept,
                f"stop refusing {', '.join(c.value for c in denied)} clauses",
                target,
                set_key("license", "deny_clauses", kept),
            )
        )
    return out


def _policy_levers(a: Assessment, req: Requirements, present: set[ReasonCode]) -> list[Lever]:
    """Keys that name the model's own figure: the needed value is that figure."""
    m, out = a.model, []
    if R.ORIGIN in present:
        kept = [c for c in req.origin.exclude_countries if c != m.origin_country]
        out.append(
            Lever(
                "origin.exclude_countries",
                req.origin.exclude_countries,
                kept,
                f"drop {m.origin_country} from the excluded countries",
                frozenset({R.ORIGIN}),
                set_key("origin", "exclude_countries", kept),
            )
        )
    if R.CAPABILITY in present:
        missing = [n for n in req.use_case.needs if not has_capability(m, n)]
        kept = [n for n in req.use_case.needs if n not in missing]
        out.append(
            Lever(
                "use_case.needs",
                req.use_case.needs,
                kept,
                f"do without {', '.join(n.value for n in missing)}",
                frozenset({R.CAPABILITY}),
                set_key("use_case", "needs", kept),
            )
        )
    if R.SIZE in present and req.size.max_params_b is not None:
        out.append(
            Lever(
                "size.max_params_b",
                req.size.max_params_b,
                m.params_b,
                f"raise max_params_b to {m.params_b:g}",
                frozenset({R.SIZE}),
                set_key("size", "max_params_b", m.params_b),
            )
        )
    return out


def _smoke_lever(present: set[ReasonCode]) -> list[Lever]:
    if R.SMOKE not in present:
        return []
    return [
        Lever(
            "smoke.enabled",
            True,
            False,
            "skip the smoke test (the failure is evidence: the model is then judged untested)",
            frozenset({R.SMOKE}),
            set_key("smoke", "enabled", False),
        )
    ]


def levers(probe: Probe, a: Assessment) -> list[Lever]:
    """Every single-key change that lifts at least one of the model's reasons, in the order
    they are preferred: the key that names the violated limit first, hardware last."""
    req, present = probe.req, codes(a)
    out = _license_levers(a, req) if R.LICENSE in present else []
    out += _policy_levers(a, req, present)
    if R.DISK in present:
        out += [lever for lever in [disk_lever(probe, a, req)] if lever]
    if R.LATENCY in present:
        out += latency_levers(probe, req)
    if present & {R.DISK, R.FIT, R.LATENCY}:
        out += [lever for lever in [quant_lever(probe, a, req, present)] if lever]
    if present & {R.FIT, R.LATENCY}:
        out += gpu_levers(probe, req, present)
    out += memory_levers(probe, a, req, present)
    out += _smoke_lever(present)
    for lever in out:
        lever.clears = frozenset(present - codes(probe(lever.apply)))
    return out
