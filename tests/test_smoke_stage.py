"""The pipeline's smoke stage: what calibrates the speed model, and how figures are labelled
(measured on the target, or evidence beside the estimate for declared hardware)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from support.gguf_models import make_tiny_gguf

from selector.catalog import Catalog, load_catalog
from selector.filtering import Assessment, latency_reasons
from selector.fit import Fit
from selector.fit.calibration import decode_samples
from selector.hardware import HardwareProfile
from selector.report.figures import speed_text
from selector.report.table import smoke_evidence_lines
from selector.requirements import Requirements
from selector.smoke.contention import judge_speed
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.smoke.llamacpp import LlamaCppBackend
from selector.smoke.runner import SmokeJob
from selector.smoke_stage import after_smoke

HERE = HardwareProfile(source="detected", ram_gb=32, cpu_cores=2, cpu_model="test-cpu")


def _result(decode: float, *, busy: bool = False, tokens: int = 64, **extra: object) -> SmokeResult:
    speed = judge_speed([decode] * 3, [100.0] * 3, tokens, warmup="w", where="this machine",
                        busy=busy, busy_detail="other processes used 1.40 of 2 CPUs")  # fmt: skip
    fields: dict[str, object] = {
        "status": SmokeStatus.PASSED,
        "decode_tokens_per_s": decode,
        "time_to_first_token_ms": 100.0,
        "prefill_tokens_per_s": 1000.0,
        "prompt_tokens": 193,
        "speed_tokens": tokens,
        "threads": 2,
        "n_ctx": 512,
        "backend": "llama.cpp",
        "speed": speed,
        **extra,
    }
    return SmokeResult.model_validate(fields)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([])


def _assessment(catalog: Catalog, estimate: float | None = 50.0) -> Assessment:
    model = catalog.models["gemma-3-270m"]
    fit = Fit(
        quantization="Q4_K_M",
        memory_gb=0.5,
        placement="cpu",
        fits=True,
        estimated_decode_tokens_per_s=estimate,
        estimated_time_to_first_token_ms=100.0,
    )
    return Assessment(model, catalog.licenses[model.license], fit, 0.3)


# ---------------------------------------------------------------------- calibration
def _calibrate(catalog: Catalog, path: Path, result: SmokeResult) -> tuple[list[str], bool]:
    job = SmokeJob("gemma-3-270m", LlamaCppBackend(path))
    req = Requirements.model_validate({"smoke": {"n_ctx": 512}})
    return after_smoke([job], {"gemma-3-270m": result}, [_assessment(catalog)], req, HERE)


def test_a_cached_result_is_not_counted_again_on_rerun(catalog: Catalog, tmp_path: Path) -> None:
    path = make_tiny_gguf(tmp_path / "tiny.gguf")
    fresh = _result(40.0)
    notes, calibrated = _calibrate(catalog, path, fresh)
    assert calibrated and "calibrated to" in notes[0]
    assert len(decode_samples(HERE)) == 1
    for _ in range(3):  # three reruns served from the smoke cache
        _, again = _calibrate(catalog, path, fresh.model_copy(update={"cached": True}))
        assert not again
    assert len(decode_samples(HERE)) == 1


def test_one_measurement_is_one_sample_however_often_reported(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = make_tiny_gguf(tmp_path / "tiny.gguf")
    result = _result(40.0)
    _calibrate(catalog, path, result)
    _calibrate(catalog, path, result)
    assert len(decode_samples(HERE)) == 1
    _calibrate(catalog, path, _result(41.0))  # a new measurement is a new sample
    assert len(decode_samples(HERE)) == 2


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (_result(1.5, busy=True), "the machine was busy (other processes used 1.40 of 2 CPUs)"),
        (_result(8.3, tokens=16), "decoded 16 tokens, fewer than the 64"),
    ],
)
def test_busy_or_short_runs_never_calibrate(
    catalog: Catalog, tmp_path: Path, result: SmokeResult, why: str
) -> None:
    # the figures: a contended 1.5 tok/s, a cold 8.3 that set the efficiency to 0.05
    notes, calibrated = _calibrate(catalog, make_tiny_gguf(tmp_path / "t.gguf"), result)
    assert not calibrated and decode_samples(HERE) == []
    assert notes[0].startswith("speed of gemma-3-270m not used for calibration: ")
    assert why in notes[0]


# ------------------------------------------------------------------------- labels
def _req(declared: bool) -> Requirements:
    data: dict[str, object] = {"latency": {"min_decode_tokens_per_s": 30}}
    if declared:
        data["hardware"] = {"cpu_only": True, "ram_gb": 64}
    return Requirements.model_validate(data)


def test_on_this_machine_the_usable_measurement_decides(catalog: Catalog) -> None:
    a = _assessment(catalog, estimate=50.0)
    a.smoke = _result(20.0)
    (reason,) = latency_reasons(a, _req(declared=False))
    assert reason.message == "measured decode 20.0 tokens/s < min_decode_tokens_per_s = 30"


def test_for_declared_hardware_the_estimate_decides_and_cites_the_measurement(
    catalog: Catalog,
) -> None:
    a = _assessment(catalog, estimate=50.0)
    a.smoke = _result(20.0)
    assert latency_reasons(a, _req(declared=True)) == []  # 20 here says nothing of the target
    slow = _assessment(catalog, estimate=10.0)
    slow.smoke = _result(20.0)
    (reason,) = latency_reasons(slow, _req(declared=True))
    assert reason.message == (
        "estimated decode 10.0 tokens/s < min_decode_tokens_per_s = 30 "
        "(measured 20.0 tokens/s on this machine, not the target)"
    )


def test_a_contended_measurement_never_excludes_a_model(catalog: Catalog) -> None:
    a = _assessment(catalog, estimate=50.0)
    a.smoke = _result(1.5, busy=True)  # the contended 1.5 tok/s
    assert latency_reasons(a, _req(declared=False)) == []


def test_an_endpoint_measures_the_target_whatever_is_declared(catalog: Catalog) -> None:
    a = _assessment(catalog, estimate=50.0)
    a.smoke = _result(20.0, backend="endpoint http://gpu:8000/v1 model=x")
    (reason,) = latency_reasons(a, _req(declared=True))
    assert reason.message.startswith("measured decode 20.0")


def _cand(smoke: SmokeResult, estimate: float = 50.0) -> SimpleNamespace:
    fit = SimpleNamespace(estimated_decode_tokens_per_s=estimate)
    return SimpleNamespace(
        id="m", smoke=smoke, fit=fit, smoke_prediction=None, smoke_not_distinguishable_from=[]
    )


def test_table_labels_measured_only_on_the_target() -> None:
    local = _cand(_result(42.0))
    assert speed_text(local, False) == "42.0 measured"
    assert speed_text(local, True) == "~50 est. (42 here)"
    busy = _cand(_result(1.5, busy=True))
    assert speed_text(busy, False) == "~50 est."
    (line,) = smoke_evidence_lines([local], declared=True)
    assert "not the declared target: evidence of behaviour" in line
    (line,) = smoke_evidence_lines([busy], declared=False)
    assert "speed not used: the machine was busy" in line


def test_unmeasured_figures_read_as_not_measured_never_zero() -> None:
    endpoint = _cand(
        SmokeResult(
            status=SmokeStatus.PASSED,
            probes_total=6,
            probes_passed=6,
            decode_tokens_per_s=None,
            backend="endpoint x",
        )
    )
    (line,) = smoke_evidence_lines([endpoint])
    assert "peak RSS not measured" in line and "decode not measured" in line
    assert "0.0" not in line
