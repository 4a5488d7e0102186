"""What-if on hand-made catalogs where the admitting change is known, one test per reason code.

Each test checks three things with `recommend` itself, not with the what-if code: the change
the what-if names admits the model, a change one step smaller does not, and the model was
excluded for that reason to begin with.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from decision_factory import catalog, hardware, model_entry, requirements

from selector.catalog import Catalog
from selector.decision.rerun import Rerun
from selector.decision.whatif import QUANT_LADDER, what_if
from selector.pipeline import SmokePlan, recommend
from selector.report.decision_schema import WhatIf, WhatIfChange
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.vocab import ReasonCode


def set_key(req: Requirements, key: str, value: Any) -> Requirements:
    """A copy of `req` with one dotted key (`hardware.gpus[0].count`) set, validated anew."""
    data = req.model_dump(mode="json")
    parts = re.findall(r"[a-z_]+|\[\d+\]", key)
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    node[parts[-1]] = value
    return Requirements.model_validate(data)


def admitted(req: Requirements, cat: Catalog, model_id: str) -> bool:
    report = recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))
    return model_id in {c.id for c in report.candidates}


def reason_codes(req: Requirements, cat: Catalog, model_id: str) -> set[ReasonCode]:
    report = recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))
    excluded = {e.id: {r.code for r in e.reasons} for e in report.excluded}
    return excluded.get(model_id, set())


def explain_exclusion(
    req: Requirements, cat: Catalog, model_id: str, smoke: SmokeResult | None = None
) -> WhatIf:
    rerun = Rerun(req, cat, hardware(req, cat))
    a = rerun.assess(cat.models[model_id], req, smoke)
    assert a.excluded
    return what_if(rerun, a)


def only_change(w: WhatIf) -> WhatIfChange:
    assert w.admitted, w
    assert len(w.changes) == 1, w.changes
    return w.changes[0]


def change_for(w: WhatIf, key: str) -> WhatIfChange:
    found = [c for c in [*w.changes, *w.alternatives] if c.key == key]
    assert found, f"no change of {key} in {w}"
    return found[0]


ONE_GPU = {"hardware": {"gpus": [{"model": "card-48"}], "ram_gb": 64}}


def test_license_allow() -> None:
    cat = catalog(model_entry("m", 8, license="restricted"))
    req = requirements({**ONE_GPU, "license": {"allow": ["Apache-2.0"]}})
    assert reason_codes(req, cat, "m") == {ReasonCode.LICENSE}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert (change.key, change.current, change.needed) == (
        "license.allow",
        ["Apache-2.0"],
        ["Apache-2.0", "restricted"],  # the catalog id, not a LicenseRef- SPDX string
    )
    assert admitted(set_key(req, change.key, change.needed), cat, "m")


def test_license_commercial_use_and_denied_clause_need_two_keys() -> None:
    cat = catalog(model_entry("nc", 8, license="research"), model_entry("mau", 8, license="mau"))
    req = requirements({**ONE_GPU, "license": {"commercial_use": True}})
    change = only_change(explain_exclusion(req, cat, "nc"))
    assert (change.key, change.needed) == ("license.commercial_use", False)
    assert admitted(set_key(req, change.key, False), cat, "nc")

    req = requirements(
        {**ONE_GPU, "license": {"allow": ["permissive"], "deny_clauses": ["mau-cap"]}}
    )
    w = explain_exclusion(req, cat, "mau")
    assert w.admitted
    assert {c.key: c.needed for c in w.changes} == {
        "license.allow": ["permissive", "mau"],
        "license.deny_clauses": [],
    }
    # neither alone admits it: the two license checks are separate
    assert not admitted(set_key(req, "license.allow", ["permissive", "mau"]), cat, "mau")
    assert not admitted(set_key(req, "license.deny_clauses", []), cat, "mau")
    both = set_key(set_key(req, "license.allow", ["permissive", "mau"]), "license.deny_clauses", [])
    assert admitted(both, cat, "mau")


def test_origin() -> None:
    cat = catalog(model_entry("m", 8, origin_country="CN"))
    req = requirements({**ONE_GPU, "origin": {"exclude_countries": ["CN", "RU"]}})
    assert reason_codes(req, cat, "m") == {ReasonCode.ORIGIN}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert (change.key, change.current, change.needed) == (
        "origin.exclude_countries",
        ["CN", "RU"],
        ["RU"],
    )
    assert admitted(set_key(req, change.key, change.needed), cat, "m")


def test_capability() -> None:
    cat = catalog(model_entry("m", 8, capabilities=["code"]))
    req = requirements({**ONE_GPU, "use_case": {"needs": ["tool-calling", "code"]}})
    assert reason_codes(req, cat, "m") == {ReasonCode.CAPABILITY}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert (change.key, change.needed) == ("use_case.needs", ["code"])
    assert admitted(set_key(req, change.key, change.needed), cat, "m")


def test_context() -> None:
    cat = catalog(model_entry("m", 8, context_tokens=16384))
    req = requirements({**ONE_GPU, "use_case": {"context_tokens": 32768}})
    assert reason_codes(req, cat, "m") == {ReasonCode.CONTEXT}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert (change.key, change.current, change.needed) == ("use_case.context_tokens", 32768, 16384)
    assert admitted(set_key(req, change.key, 16384), cat, "m")
    assert not admitted(set_key(req, change.key, 16385), cat, "m")


def test_size_raises_max_params_to_the_model_size() -> None:
    cat = catalog(model_entry("m", 72))
    req = requirements(
        {
            "hardware": {"gpus": [{"model": "card-80", "count": 2}], "ram_gb": 64},
            "size": {"max_params_b": 40},
        }
    )
    assert reason_codes(req, cat, "m") == {ReasonCode.SIZE}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert (change.key, change.current, change.needed) == ("size.max_params_b", 40, 72)
    assert admitted(set_key(req, change.key, 72), cat, "m")
    assert not admitted(set_key(req, change.key, 71.9), cat, "m")


def test_disk_limit_is_the_disk_figure_rounded_up() -> None:
    cat = catalog(model_entry("m", 24))
    req = requirements({**ONE_GPU, "size": {"max_disk_gb": 10}})
    assert reason_codes(req, cat, "m") == {ReasonCode.DISK}
    w = explain_exclusion(req, cat, "m")
    change = only_change(w)
    assert change.key == "size.max_disk_gb"
    assert admitted(set_key(req, change.key, change.needed), cat, "m")
    assert not admitted(set_key(req, change.key, round(change.needed - 0.01, 2)), cat, "m")
    # a smaller quantization is offered too, and it admits the model on its own
    quant = change_for(w, "size.quantization")
    assert admitted(set_key(req, "size.quantization", quant.needed), cat, "m")


def test_fit_second_gpu_or_smaller_quantization() -> None:
    """70B at Q4_K_M is ~40 GB of weights, plus 8 GB of KV cache at 64k context (32 layers x
    8 KV heads x 128 x K and V x 2 bytes x 65,536): not one 48 GB card. Two cards hold it;
    so do a smaller quantization and a shorter context."""
    cat = catalog(model_entry("m", 70, context_tokens=131072))
    req = requirements({**ONE_GPU, "use_case": {"context_tokens": 65536}})
    assert reason_codes(req, cat, "m") == {ReasonCode.FIT}
    w = explain_exclusion(req, cat, "m")
    assert w.admitted and len(w.changes) == 1
    gpus = change_for(w, "hardware.gpus[0].count")
    assert (gpus.current, gpus.needed, gpus.description) == (1, 2, "add a second card-48")
    assert admitted(set_key(req, gpus.key, 2), cat, "m")
    quant = change_for(w, "size.quantization")
    assert admitted(set_key(req, quant.key, quant.needed), cat, "m")
    # the widest preset that admits it: every wider one below Q4_K_M on the ladder does not
    ladder = list(QUANT_LADDER)
    wider = ladder[ladder.index("Q4_K_M") + 1 : ladder.index(quant.needed)]
    for preset in wider:
        assert not admitted(set_key(req, quant.key, preset), cat, "m"), preset
    # lowering the context is the third way, at the largest context that fits
    ctx = change_for(w, "use_case.context_tokens")
    assert admitted(set_key(req, ctx.key, ctx.needed), cat, "m")
    assert not admitted(set_key(req, ctx.key, ctx.needed + 1), cat, "m")


def test_fit_more_ram_on_a_cpu_only_machine() -> None:
    cat = catalog(model_entry("m", 14))
    req = requirements({"hardware": {"cpu_only": True, "ram_gb": 4}})
    assert reason_codes(req, cat, "m") == {ReasonCode.FIT}
    change = change_for(explain_exclusion(req, cat, "m"), "hardware.ram_gb")
    assert admitted(set_key(req, change.key, change.needed), cat, "m")
    assert not admitted(set_key(req, change.key, change.needed - 1), cat, "m")


def test_latency_decode_threshold_is_the_estimate() -> None:
    cat = catalog(model_entry("m", 8))
    req = requirements({**ONE_GPU, "latency": {"min_decode_tokens_per_s": 1000}})
    assert reason_codes(req, cat, "m") == {ReasonCode.LATENCY}
    w = explain_exclusion(req, cat, "m")
    change = only_change(w)
    assert change.key == "latency.min_decode_tokens_per_s"
    assert admitted(set_key(req, change.key, change.needed), cat, "m")
    assert not admitted(set_key(req, change.key, round(change.needed + 0.1, 1)), cat, "m")
    report = recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))
    estimate = Rerun(req, cat, hardware(req, cat)).assess(cat.models["m"], req, None).fit
    assert estimate.estimated_decode_tokens_per_s is not None
    assert change.needed == pytest.approx(estimate.estimated_decode_tokens_per_s, abs=0.1)
    assert report.excluded[0].reasons[0].code is ReasonCode.LATENCY


def test_latency_first_token_threshold() -> None:
    cat = catalog(model_entry("m", 8))
    req = requirements({**ONE_GPU, "latency": {"max_time_to_first_token_ms": 0.001}})
    assert reason_codes(req, cat, "m") == {ReasonCode.LATENCY}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert change.key == "latency.max_time_to_first_token_ms"
    assert admitted(set_key(req, change.key, change.needed), cat, "m")
    assert not admitted(set_key(req, change.key, change.needed - 1), cat, "m")


def test_smoke_failure_is_lifted_only_by_not_smoke_testing() -> None:
    cat = catalog(model_entry("m", 8))
    req = requirements({**ONE_GPU, "smoke": {"enabled": True}})
    failed = SmokeResult(
        status=SmokeStatus.FAILED, reason="2/6 probes passed", probes_passed=2, probes_total=6
    )
    w = explain_exclusion(req, cat, "m", smoke=failed)
    change = only_change(w)
    assert (change.key, change.current, change.needed) == ("smoke.enabled", True, False)
    assert change.clears == [ReasonCode.SMOKE]


def test_several_reasons_need_one_change_each_and_together_admit() -> None:
    cat = catalog(model_entry("m", 72, origin_country="CN", license="restricted"))
    req = requirements(
        {
            "hardware": {"gpus": [{"model": "card-80", "count": 2}], "ram_gb": 64},
            "license": {"allow": ["Apache-2.0"]},
            "origin": {"exclude_countries": ["CN"]},
            "size": {"max_params_b": 40},
        }
    )
    assert reason_codes(req, cat, "m") == {
        ReasonCode.LICENSE,
        ReasonCode.ORIGIN,
        ReasonCode.SIZE,
    }
    w = explain_exclusion(req, cat, "m")
    assert w.admitted
    needed = {c.key: c.needed for c in w.changes}
    assert needed == {
        "license.allow": ["Apache-2.0", "restricted"],
        "origin.exclude_countries": [],
        "size.max_params_b": 72,
    }
    changed = req
    for key, value in needed.items():
        assert not admitted(set_key(req, key, value), cat, "m")  # one alone is not enough
        changed = set_key(changed, key, value)
    assert admitted(changed, cat, "m")


def test_report_carries_what_if_for_the_best_excluded() -> None:
    cat = catalog(
        model_entry("ok", 8, quality=50),
        model_entry("far", 8, quality=40, origin_country="CN"),
        model_entry("near", 8, quality=70, origin_country="CN"),
    )
    req = requirements({**ONE_GPU, "origin": {"exclude_countries": ["CN"]}})
    report = recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))
    assert [w.id for w in report.what_if] == ["near", "far"]  # best score first
    data = report.model_dump(mode="json")["what_if"][0]
    assert set(data) >= {"id", "changes"}
    assert data["changes"] == [
        {
            "key": "origin.exclude_countries",
            "current": ["CN"],
            "needed": [],
            "description": "drop CN from the excluded countries",
            "clears": ["origin"],
        }
    ]


def test_latency_under_auto_quantization_counts_the_faster_presets() -> None:
    """With quantization "auto" the planner walks down the GGUF ladder to meet a decode target,
    so the threshold that admits the model is the speed of the fastest preset that fits, above
    the estimate at the best-quality preset shown for the excluded model."""
    cat = catalog(model_entry("m", 8))
    req = requirements(
        {**ONE_GPU, "latency": {"min_decode_tokens_per_s": 1000}}, auto_quantization=True
    )
    assert req.size.quantization == "auto"
    assert reason_codes(req, cat, "m") == {ReasonCode.LATENCY}
    change = only_change(explain_exclusion(req, cat, "m"))
    assert change.key == "latency.min_decode_tokens_per_s"
    assert admitted(set_key(req, change.key, change.needed), cat, "m")
    assert not admitted(set_key(req, change.key, round(change.needed + 0.1, 1)), cat, "m")
    shown = Rerun(req, cat, hardware(req, cat)).assess(cat.models["m"], req, None).fit
    assert shown.estimated_decode_tokens_per_s is not None
    assert change.needed > shown.estimated_decode_tokens_per_s
