"""Decode calibration: the overhead model's fit, its fallbacks, and the stored samples."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from selector.catalog.schema import Attention, ModelEntry
from selector.fit import (
    DecodeSample,
    estimate_fit,
    fit_decode_model,
    load_decode_model,
    load_efficiency,
    record_decode_sample,
    record_prefill_calibration,
)
from selector.fit.calibration import calibration_path
from selector.fit.decode_model import default_model, nnls
from selector.hardware import HardwareProfile
from selector.vocab import Architecture

BANDWIDTH = 50.0  # GB/s
TRUE = {"efficiency": 0.3, "layer_ms": 0.15, "vocab_ns": 2.0, "fixed_ms": 0.5, "attn_ns": 0.1}
# (bytes per token, layers, vocabulary, attention multiply-adds per token): tiny to
# 270M-sized, shallow to deep, 32k to 262k, few to many query heads
SHAPES = [
    (12e6, 4, 32_000, 2e6),
    (29e6, 24, 32_000, 25e6),
    (38e6, 4, 128_000, 4e6),
    (87e6, 8, 32_000, 8e6),
    (250e6, 18, 262_144, 9e6),
    (19e6, 12, 64_000, 40e6),
]


def sample(nbytes: float, layers: int, vocab: int, macs: float = 0.0, *, noise: float = 0.0,
           threads: int = 2, **true: float) -> DecodeSample:  # fmt: skip
    c = {**TRUE, **true}
    seconds = (
        nbytes / (BANDWIDTH * 1e9 * c["efficiency"])
        + (layers * c["layer_ms"] + c["fixed_ms"]) / 1e3
        + vocab * c["vocab_ns"] / 1e9
        + macs * c["attn_ns"] / 1e9
    )
    return DecodeSample(nbytes, BANDWIDTH, layers, vocab, 500, (1 + noise) / seconds, threads,
                        attn_macs_per_token=macs)  # fmt: skip


def machine(ram: float = 32) -> HardwareProfile:
    return HardwareProfile(source="declared", ram_gb=ram, cpu_cores=2)


def entry() -> ModelEntry:
    return ModelEntry(
        id="m", name="M", family="f", organization="o", origin_country="US",
        release_date=dt.date(2025, 1, 1), params_b=1.7, architecture=Architecture.DENSE,
        layers=28, hidden_size=2048, vocab_size=151_936,
        attention=Attention(heads=16, kv_heads=8, head_dim=128), context_tokens=131_072,
        license="apache-2.0", sources=["https://example.org"],
    )  # fmt: skip


def test_fit_recovers_known_coefficients(monkeypatch: pytest.MonkeyPatch) -> None:
    from selector.fit import decode_model

    monkeypatch.setattr(decode_model, "PRIOR_WEIGHT", 0.0)  # the data alone
    fit_decode_model.cache_clear()
    model = fit_decode_model(tuple(sample(*s) for s in SHAPES))
    fit_decode_model.cache_clear()
    assert model.calibrated and "6 smoke test(s) of 6 model(s)" in model.source
    assert model.efficiency == pytest.approx(TRUE["efficiency"], rel=1e-6)
    assert model.layer_ms == pytest.approx(TRUE["layer_ms"], rel=1e-6)
    assert model.vocab_ns == pytest.approx(TRUE["vocab_ns"], rel=1e-6)
    assert model.fixed_ms == pytest.approx(TRUE["fixed_ms"], rel=1e-6)
    assert model.attn_ns_per_mac == pytest.approx(TRUE["attn_ns"], rel=1e-6)


def test_prior_changes_nothing_where_the_data_agree_with_the_defaults() -> None:
    defaults = default_model("cpu")
    truth = {"layer_ms": defaults.layer_ms, "vocab_ns": defaults.vocab_ns,
             "fixed_ms": defaults.fixed_ms, "attn_ns": defaults.attn_ns_per_mac}  # fmt: skip
    model = fit_decode_model(tuple(sample(*s, **truth) for s in SHAPES))
    assert model.efficiency == pytest.approx(TRUE["efficiency"], rel=1e-6)
    assert model.layer_ms == pytest.approx(defaults.layer_ms, rel=1e-6)
    assert model.attn_ns_per_mac == pytest.approx(defaults.attn_ns_per_mac, rel=1e-6)


def test_prior_holds_the_per_layer_cost_when_layers_track_bytes() -> None:
    # Three similar models whose layer count grows with their bytes: the data cannot tell a
    # per-layer cost from a lower bandwidth. The prior keeps the default per-layer cost, so a
    # model with three times the layers for its bytes is still predicted within 10%.
    shapes = [(20e6 * n, n, 32_000, 0.0) for n in (8, 10, 12, 14)]
    model = fit_decode_model(tuple(sample(*s, fixed_ms=0.0, vocab_ns=0.0) for s in shapes))
    assert model.layer_ms == pytest.approx(TRUE["layer_ms"], abs=0.03)
    deep = sample(200e6, 30, 32_000, fixed_ms=0.0, vocab_ns=0.0)
    bytes_s = deep.bytes_per_token / (BANDWIDTH * 1e9)
    predicted = 1 / model.seconds_per_token(bytes_s, deep.n_layers, deep.n_vocab)
    assert predicted == pytest.approx(deep.measured_tps, rel=0.10)


def test_fit_with_noisy_samples_stays_close_and_predicts_an_unseen_model() -> None:
    noises = [0.05, -0.04, 0.03, -0.05, 0.02, -0.03]
    model = fit_decode_model(
        tuple(sample(*s, noise=n) for s, n in zip(SHAPES, noises, strict=True))
    )
    assert model.efficiency == pytest.approx(TRUE["efficiency"], rel=0.15)
    unseen = sample(5e9, 32, 151_936)  # a 7B-class model the fit never saw
    bytes_s = unseen.bytes_per_token / (BANDWIDTH * 1e9)
    predicted = 1 / model.seconds_per_token(bytes_s, unseen.n_layers, unseen.n_vocab)
    assert predicted == pytest.approx(unseen.measured_tps, rel=0.15)


def test_coefficients_never_go_negative() -> None:
    # Overhead-free data measured faster than bytes alone explain for small models: plain
    # least squares would give a negative fixed cost; the fit keeps every constant >= 0.
    samples = [sample(*s, layer_ms=0.0, vocab_ns=0.0, fixed_ms=0.0) for s in SHAPES]
    samples[0] = sample(*SHAPES[0], noise=0.3, layer_ms=0.0, vocab_ns=0.0, fixed_ms=0.0)
    model = fit_decode_model(tuple(samples))
    assert min(model.layer_ms, model.vocab_ns, model.fixed_ms) >= 0
    assert model.efficiency > 0


def test_attention_term_reads_plainly_in_the_basis() -> None:
    model = default_model("cpu", 4)  # 0.15 ns / 4 cores
    assert (
        model.describe_attention(40.9e6) == " + 1.5 ms attention (40.9 M multiply-adds x 0.037 ns)"
    )
    assert "(1.07 G multiply-adds" in model.describe_attention(1.07e9)
    assert (
        model.describe_attention(0.0) == "" and default_model("gpu").describe_attention(1e9) == ""
    )


def test_nnls_matches_a_known_solution() -> None:
    import numpy as np

    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    x = nnls(a, np.array([2.0, -1.0, 1.0]))
    assert x is not None and x[1] == 0 and x[0] == pytest.approx(1.5)


def test_too_few_samples_fit_the_efficiency_only() -> None:
    assert fit_decode_model(()) == default_model("cpu")
    one_model = tuple(sample(*SHAPES[4]) for _ in range(3))
    model = fit_decode_model(one_model)
    defaults = default_model("cpu")
    assert (model.layer_ms, model.vocab_ns, model.fixed_ms) == (
        defaults.layer_ms, defaults.vocab_ns, defaults.fixed_ms,
    )  # fmt: skip
    assert "efficiency calibrated from 3 smoke test(s) of 1 model(s)" in model.source
    # the efficiency then absorbs whatever the default overhead does not explain
    measured = one_model[0]
    bytes_s = measured.bytes_per_token / (BANDWIDTH * 1e9)
    predicted = 1 / model.seconds_per_token(
        bytes_s, measured.n_layers, measured.n_vocab, measured.attn_macs_per_token
    )
    assert predicted == pytest.approx(measured.measured_tps, rel=1e-6)
    two_models = fit_decode_model((sample(*SHAPES[0]), sample(*SHAPES[3])))
    assert "of 2 model(s)" in two_models.source and two_models.layer_ms == defaults.layer_ms


def test_one_model_at_three_contexts_counts_as_one_model() -> None:
    # The KV cache read grows with the context; the model's weights do not. Three runs of one
    # model must not pass for three models and unlock the full five-term fit.
    runs = tuple(
        DecodeSample(
            100e6 + kv,
            BANDWIDTH,
            12,
            32_000,
            500,
            150.0 - kv / 1e6,
            2,
            kv_bytes_per_token=kv,
            attn_macs_per_token=kv / 10,
        )
        for kv in (2e6, 6e6, 12e6)
    )
    assert len({s.model_key for s in runs}) == 1
    model = fit_decode_model(runs + runs[:1])
    assert "of 1 model(s)" in model.source and model.source.startswith("efficiency calibrated")


def test_overhead_dominated_sample_drops_the_overhead_rather_than_go_negative() -> None:
    fast = sample(*SHAPES[0], layer_ms=0.0, vocab_ns=0.0, fixed_ms=0.0, efficiency=1.0)
    model = fit_decode_model((fast,))
    assert model.efficiency > 0 and model.layer_ms == 0
    assert "no overhead" in model.source


def test_samples_are_stored_per_machine_target_and_thread_count() -> None:
    hw = machine()
    assert load_decode_model(hw) == default_model("cpu", 2)
    before = estimate_fit(entry(), hw, quantization="Q4_K_M", context_tokens=4096)
    assert "not calibrated" in before.speed_basis
    d = default_model("cpu", 2)  # samples that agree with the prior: the fit is exact
    agree = {"layer_ms": d.layer_ms, "vocab_ns": d.vocab_ns, "fixed_ms": d.fixed_ms,
             "attn_ns": d.attn_ns_per_mac}  # fmt: skip
    for shape in SHAPES:
        fitted = record_decode_sample(hw, sample(*shape, **agree))
    assert fitted.efficiency == pytest.approx(TRUE["efficiency"], rel=1e-6)
    assert calibration_path().is_file()
    assert not list(calibration_path().parent.glob(".fit-calibration-*"))
    assert load_efficiency(hw)[0] == pytest.approx(TRUE["efficiency"], rel=1e-6)
    after = estimate_fit(entry(), hw, quantization="Q4_K_M", context_tokens=4096)
    assert "calibrated from 6 smoke test(s) of 6 model(s)" in after.speed_basis
    assert "28 layers x 0.15 ms" in after.speed_basis
    assert after.estimated_decode_tokens_per_s != before.estimated_decode_tokens_per_s
    # another machine, and the GPU target, keep the defaults
    assert load_decode_model(machine(64)) == default_model("cpu", 2)
    assert load_decode_model(hw, target="gpu") == default_model("gpu")
    # single-thread runs are fitted apart from the 2-thread ones when asked for
    record_decode_sample(hw, sample(*SHAPES[0], threads=1, efficiency=0.1, **agree))
    assert load_decode_model(hw).efficiency == pytest.approx(TRUE["efficiency"], rel=1e-3)
    assert load_decode_model(hw, threads=1).efficiency == pytest.approx(0.1, rel=0.2)


def test_corrupt_or_old_calibration_file_is_ignored() -> None:
    hw = machine()
    path = calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    assert load_decode_model(hw) == default_model("cpu", 2)
    assert load_efficiency(hw, kind="prefill")[1] == "default; not calibrated"
    key = f"{hw.fingerprint()}#cpu"
    bad = [
        "text",
        {"ratio": 0.4, "predicted_raw_tps": 100.0, "measured_tps": 40.0},  # the old format
        {**sample(*SHAPES[0]).to_json(), "measured_tps": -1.0},
        {**sample(*SHAPES[0]).to_json(), "n_layers": "four"},
        {**sample(*SHAPES[0]).to_json(), "bytes_per_token": float("nan")},
        {**sample(*SHAPES[0]).to_json(), "attn_macs_per_token": -5},
        # an earlier version's sample, without attention multiply-adds
        {k: v for k, v in sample(*SHAPES[0]).to_json().items() if k != "attn_macs_per_token"},
    ]
    old = {"decode": [{"ratio": 0.4}], "decode_samples": bad, "prefill": ["x", {"ratio": -2}]}
    path.write_text(json.dumps({key: old, "other": 3}), encoding="utf-8")
    assert load_decode_model(hw) == default_model("cpu", 2)
    assert load_efficiency(hw, kind="prefill")[1] == "default; not calibrated"
    record_decode_sample(hw, sample(*SHAPES[0]))
    stored = json.loads(path.read_text(encoding="utf-8"))[key]
    assert "decode" not in stored and len(stored["decode_samples"]) == 1
    assert record_prefill_calibration(hw, 100.0, 50.0) == pytest.approx(0.5)
    path.write_text(json.dumps([1, 2]), encoding="utf-8")
    assert load_decode_model(hw) == default_model("cpu", 2)
    record_decode_sample(hw, sample(*SHAPES[1]))  # a corrupt file is replaced, not fatal
    assert "1 smoke test(s)" in load_decode_model(hw).source
