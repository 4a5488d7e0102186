"""Predicted memory against the peak RSS the smoke runner measures, on generated GGUF models.

The models come from tests/support/gguf_models.py (`make_fit_gguf`, `TINY_MODELS`), which
the benches share.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gguf_models import TINY_MODELS, make_fit_gguf, make_named, measure_peak_rss_gb

from selector.fit import speed
from selector.fit.decode_model import DecodeModel
from selector.fit.gguf_read import shape_from_gguf
from selector.fit.memory import GIB, ModelShape, kv_cache_bytes
from selector.fit.smoke_link import decode_bytes_per_token, predict_smoke, smoke_runtime
from selector.gguf_header import read_gguf_header
from selector.hardware import HardwareProfile

RSS_TOLERANCE = 0.10  # the goal: within 10% of the measured peak RSS


# What the calibration test checks the calibration against: the decode speed the fit's bytes
# per token give, worked out here on their own (selector uses them only through the model).
def raw_decode_tps(shape: ModelShape, hardware: HardwareProfile, context_used: int) -> float:
    """CPU decode tokens/s at efficiency 1 and no overhead: RAM bandwidth / bytes per token."""
    bw, _ = speed.ram_bandwidth(hardware)
    return bw * 1e9 / decode_bytes_per_token(shape, context_used)[0]


def predict_decode_tps(
    shape: ModelShape, hardware: HardwareProfile, cells: float, model: DecodeModel
) -> float:
    """CPU decode tokens/s of `shape` attending `cells` cells, under a decode model."""
    bw, _ = speed.ram_bandwidth(hardware)
    total, _kv = decode_bytes_per_token(shape, cells, swa_full=True)
    macs = speed.attention_macs_per_token(shape, cells, swa_full=True)
    return 1.0 / model.seconds_per_token(total / (bw * 1e9), shape.n_layers, shape.n_vocab, macs)


def cpu_machine() -> HardwareProfile:
    return HardwareProfile(source="declared", ram_gb=24, cpu_cores=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("fit-gguf")
    return {name: make_named(tmp, name) for name in TINY_MODELS}


def test_header_reader_agrees_with_gguf_reader(models: dict[str, Path]) -> None:
    from gguf import GGUFReader

    for path in models.values():
        ours = read_gguf_header(path)
        theirs = GGUFReader(path)
        assert {t.name: t.n_bytes for t in ours.tensors} == {
            t.name: int(t.n_bytes) for t in theirs.tensors
        }
        assert ours.metadata["tokenizer.ggml.tokens"].count == len(
            theirs.fields["tokenizer.ggml.tokens"].data
        )
        arch = ours.metadata["general.architecture"]
        key = f"{arch}.attention.head_count_kv"
        assert ours.metadata[key] == theirs.fields[key].contents()


def test_gemma3_layout_read_from_gguf(models: dict[str, Path]) -> None:
    shape = shape_from_gguf(models["gemma3-q8_0-swa"])
    assert shape.tied_embeddings
    assert [lay.sliding for lay in shape.kv_layers] == [il % 6 < 5 for il in range(12)]
    assert shape.sliding_window == 256
    # SWA cap: 10 sliding layers hold PAD(256 + 512, 256) = 768 cells, not 32768.
    capped = kv_cache_bytes(shape, 32_768, smoke_runtime(32_768).__class__(swa_full=False))
    full = kv_cache_bytes(shape, 32_768, smoke_runtime(32_768))
    width = 2 * 2 * 32 * 2  # K+V, 2 KV heads, head_dim 32, f16
    assert full == 12 * 32_768 * width
    assert capped == (2 * 32_768 + 10 * 768) * width


def test_q5_0_weights_cost_more_than_their_bytes_on_a_cpu(tmp_path: Path) -> None:
    """Q5_0's slow CPU kernel: its bytes count 1.75x in the CPU decode estimate, other types 1x."""
    from selector.fit.estimate import fit_from_shape
    from selector.fit.memory import RuntimeSettings
    from selector.fit.quant import CPU_SLOW_KERNEL_TIME

    kw = {"n_layer": 2, "n_embd": 256, "n_head": 4, "n_head_kv": 4, "n_ff": 512, "n_vocab": 1000}
    q5 = shape_from_gguf(make_fit_gguf(tmp_path / "q5.gguf", qtype="Q5_0", **kw))
    q8 = shape_from_gguf(make_fit_gguf(tmp_path / "q8.gguf", qtype="Q8_0", **kw))
    assert q8.cpu_slow_kernel_extra_bytes == 0
    # every matmul weight is Q5_0; the untied input embedding is a row lookup, not counted
    read = q5.active_weights_bytes - q5.embedding_bytes - 4 * (2 * 2 * 256 + 256)  # f32 norms
    assert q5.cpu_slow_kernel_extra_bytes == pytest.approx(
        read * (CPU_SLOW_KERNEL_TIME["Q5_0"] - 1), rel=1e-9
    )
    fit = fit_from_shape(q5, cpu_machine(), context_tokens=512, runtime=RuntimeSettings())
    assert "GB-equivalent for Q5_0/Q5_1's slower CPU kernel" in fit.speed_basis


def test_head_size_apart_from_width_is_read_from_gguf(tmp_path: Path) -> None:
    """Attention multiply-adds per cell: query heads x (K + V head size), from the metadata."""
    path = make_fit_gguf(tmp_path / "h.gguf", n_layer=2, n_embd=256, n_head=8, n_head_kv=2,
                         head_dim=64, n_ff=256, n_vocab=1000)  # fmt: skip
    layers = shape_from_gguf(path).kv_layers
    assert [(lay.k_width, lay.v_width, lay.attn_width) for lay in layers] == [(128, 128, 1024)] * 2


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(TINY_MODELS))
@pytest.mark.parametrize("n_ctx", [512, 8192, 32768])
def test_predicted_rss_within_tolerance(models: dict[str, Path], name: str, n_ctx: int) -> None:
    measured, _ = measure_peak_rss_gb(models[name], n_ctx)
    predicted = predict_smoke(cpu_machine(), n_ctx, gguf_path=models[name]).resident_peak_gb
    error = (predicted - measured) / measured
    assert abs(error) <= RSS_TOLERANCE, (
        f"{name} n_ctx={n_ctx}: predicted {predicted * 1024:.0f} MiB, "
        f"measured {measured * 1024:.0f} MiB ({error:+.1%})"
    )


@pytest.mark.integration
def test_kv_growth_with_context_matches_the_formula(models: dict[str, Path]) -> None:
    """Between two context sizes only the KV cache changes: the measured RSS must follow it."""
    path = models["llama-q8_0"]
    small, _ = measure_peak_rss_gb(path, 1024)
    large, _ = measure_peak_rss_gb(path, 32768)
    shape = shape_from_gguf(path)
    growth = (
        kv_cache_bytes(shape, 32768, smoke_runtime(32768))
        - kv_cache_bytes(shape, 1024, smoke_runtime(1024))
    ) / GIB
    assert growth == pytest.approx(large - small, rel=0.15)


def test_calibrate_from_smoke_records_the_measured_efficiency(models: dict[str, Path]) -> None:
    """One smoke run: only the efficiency is fitted, beside the default per-token overhead."""
    from selector.fit import calibrate_from_smoke, load_decode_model, load_efficiency
    from selector.fit.decode_model import default_model
    from selector.fit.smoke_link import smoke_attended_cells
    from selector.smoke.interface import SmokeResult, SmokeStatus

    path = models["llama-q8_0"]
    shape = shape_from_gguf(path)
    hw = cpu_machine()
    # 64 prompt + 1..32 decoded tokens: llama.cpp attends 256 cells (used cells padded to 256)
    assert smoke_attended_cells(64, 32, 2048) == 256
    assert smoke_attended_cells(250, 12, 2048) == (6 * 256 + 6 * 512) / 12
    assert smoke_attended_cells(250, 12, 256) == 256  # never beyond the cache (PAD(n_ctx))
    from selector.fit.speed import attention_macs_per_token

    bytes_s = 1 / raw_decode_tps(shape, hw, 256)
    defaults = default_model("cpu", hw.cpu_cores)
    macs = attention_macs_per_token(shape, 256, swa_full=True)
    assert macs == 4 * 8 * (32 + 32) * 256  # layers x query heads x (K + V head size) x cells
    seconds = (
        bytes_s / 0.25
        + defaults.overhead_s(shape.n_layers, shape.n_vocab)
        + defaults.attention_s(macs)
    )
    result = SmokeResult(status=SmokeStatus.PASSED, decode_tokens_per_s=1 / seconds,
                         prefill_tokens_per_s=100.0, prompt_tokens=64, speed_tokens=32)  # fmt: skip
    factor = calibrate_from_smoke(None, hw, "Q8_0", 2048, result, path)
    assert factor == pytest.approx(0.25, rel=0.01)
    model = load_decode_model(hw)
    assert model.efficiency == pytest.approx(factor)
    assert (model.layer_ms, model.attn_ns_per_mac) == (defaults.layer_ms, defaults.attn_ns_per_mac)
    assert "efficiency calibrated from 1 smoke test(s) of 1 model(s)" in model.source
    assert "calibrated" in load_efficiency(hw, kind="prefill")[1]
    assert predict_decode_tps(shape, hw, 256, model) == pytest.approx(1 / seconds)
    fit = predict_smoke(hw, 2048, gguf_path=path)
    assert "0.25 efficiency" in fit.speed_basis and "per-token overhead" in fit.speed_basis
    idle = SmokeResult(status=SmokeStatus.PASSED)
    assert calibrate_from_smoke(None, hw, "Q8_0", 2048, idle, path) is None
