"""Predicted memory against the peak RSS the smoke runner measures, on generated GGUF models.

The generators below write small but not trivial models (a 32k vocabulary, quantized Q8_0 or
Q4_0 tensors, a Gemma 3 layout with sliding-window layers) so that weights, KV cache, repacked
tensors and vocabulary tables all show in the measurement. bench/fit_accuracy.py reuses them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType
from gguf.quants import quantize

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


# llama.cpp presets written by its own quantizer (llama_model_quantize), by file type number
# (include/llama.h, enum llama_ftype).
K_PRESETS = {"Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}


_QUANTIZE = """
import sys, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = int(sys.argv[3])
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), params))
"""


def llama_quantize(src: Path, dst: Path, ftype: int) -> Path:
    """Quantize `src` into `dst` with llama.cpp's quantizer (the llama-quantize tool's code).

    In a child process: llama.cpp logs every tensor on stderr, which is captured.
    """
    import subprocess
    import sys

    tmp = dst.with_name(dst.name + ".part")
    done = subprocess.run(
        [sys.executable, "-c", _QUANTIZE, str(src), str(tmp), str(ftype)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"quantizing {src} failed: {done.stderr[-500:]}")
    tmp.replace(dst)
    return dst


def _vocab(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256
    types.append(TokenType.NORMAL)
    letters = "etaoinshrdlucmwfgypbvkjxqz"
    i = 0
    while len(tokens) < n_vocab:
        word, k = "", i
        while True:
            word += letters[k % 26]
            k //= 26
            if k == 0:
                break
        tokens.append("▁" + word)
        types.append(TokenType.NORMAL)
        i += 1
    scores = [0.0] * 259 + [-float(j) for j in range(len(tokens) - 259)]
    return tokens, scores, [int(t) for t in types]


def make_fit_gguf(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int = 4,
    n_embd: int = 256,
    n_head: int = 8,
    n_head_kv: int = 4,
    n_ff: int = 768,
    n_vocab: int = 32_000,
    qtype: str = "Q8_0",
    sliding_window: int | None = None,
    n_ctx_train: int = 65_536,
    seed: int = 0,
    head_dim: int | None = None,
) -> Path:
    """A loadable llama- or gemma3-architecture GGUF with random weights in `qtype`.

    `qtype` is a type gguf-py can write (F32, F16, Q8_0, Q4_0 ...) or a llama.cpp preset
    (Q4_K_M, Q6_K ...): gguf-py cannot quantize K-quants, so those are written in F16 and
    quantized by llama.cpp's own quantizer, with its real per-tensor type mix.
    """
    preset = K_PRESETS.get(qtype)
    if preset is not None:
        f16 = path.with_name(path.stem + ".f16.tmp.gguf")
        make_fit_gguf(f16, arch=arch, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                      n_head_kv=n_head_kv, n_ff=n_ff, n_vocab=n_vocab, qtype="F16",
                      sliding_window=sliding_window, n_ctx_train=n_ctx_train, seed=seed,
                      head_dim=head_dim)  # fmt: skip
        try:
            return llama_quantize(f16, path, preset)
        finally:
            f16.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    head_dim = head_dim or n_embd // n_head
    tokens, scores, types = _vocab(n_vocab)
    qt = GGMLQuantizationType[qtype]
    ftype = {
        "Q8_0": LlamaFileType.MOSTLY_Q8_0,
        "Q4_0": LlamaFileType.MOSTLY_Q4_0,
        "F16": LlamaFileType.MOSTLY_F16,
    }.get(qtype, LlamaFileType.ALL_F32)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(path), arch)
    w.add_name(f"fit test {arch} {qtype}")
    w.add_file_type(ftype)
    w.add_context_length(n_ctx_train)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10_000.0)
    if arch == "gemma3" or head_dim != n_embd // n_head:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == "gemma3":
        if sliding_window:
            w.add_sliding_window(sliding_window)
    else:
        w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def add(name: str, rows: int, cols: int) -> None:
        data = (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)
        if qtype in ("F32", "F16"):
            w.add_tensor(name, data.astype(np.float16 if qtype == "F16" else np.float32))
        else:
            w.add_tensor(name, quantize(data, qt), raw_dtype=qt)

    def norm(name: str) -> None:
        per_head = name.endswith(("attn_q_norm.weight", "attn_k_norm.weight"))
        w.add_tensor(name, np.ones(head_dim if per_head else n_embd, dtype=np.float32))

    add("token_embd.weight", len(tokens), n_embd)
    norm("output_norm.weight")
    if arch != "gemma3":  # gemma3 ties the output head to the embedding
        add("output.weight", len(tokens), n_embd)
    for i in range(n_layer):
        b = f"blk.{i}"
        norm(f"{b}.attn_norm.weight")
        add(f"{b}.attn_q.weight", n_head * head_dim, n_embd)
        add(f"{b}.attn_k.weight", n_head_kv * head_dim, n_embd)
        add(f"{b}.attn_v.weight", n_head_kv * head_dim, n_embd)
        add(f"{b}.attn_output.weight", n_embd, n_head * head_dim)
        norm(f"{b}.ffn_norm.weight")
        add(f"{b}.ffn_gate.weight", n_ff, n_embd)
        add(f"{b}.ffn_up.weight", n_ff, n_embd)
        add(f"{b}.ffn_down.weight", n_embd, n_ff)
        if arch == "gemma3":
            norm(f"{b}.attn_q_norm.weight")
            norm(f"{b}.attn_k_norm.weight")
            norm(f"{b}.post_attention_norm.weight")
            norm(f"{b}.post_ffw_norm.weight")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


TINY_MODELS = {
    "llama-q8_0": {"arch": "llama", "qtype": "Q8_0"},
    "llama-q4_0": {"arch": "llama", "qtype": "Q4_0", "n_vocab": 64_000, "n_layer": 6},
    "gemma3-q8_0-swa": {
        "arch": "gemma3",
        "qtype": "Q8_0",
        "n_layer": 12,
        "n_head_kv": 2,
        "sliding_window": 256,
    },
}


def make_named(tmp: Path, name: str) -> Path:
    return make_fit_gguf(tmp / f"fit-{name}.gguf", **TINY_MODELS[name])  # type: ignore[arg-type]


# Runs the smoke child's own measurement code (selector.smoke.child.run: the same Llama()
# settings, speed run and probes) in a fresh process and reads the peak from VmHWM. The
# child's own `peak_rss_gb` comes from ru_maxrss, which on Linux starts at the parent's RSS at
# fork time, so a large parent (a test run, a pipeline) inflates it.
_MEASURE = """
import json, sys
from selector.smoke import child
report = child.run(json.loads(sys.stdin.read()))
status = open("/proc/self/status").read().split("\\n")
hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(json.dumps({"hwm_kib": hwm, "decode": report.get("decode_tokens_per_s", 0.0),
                  "prompt_tokens": report.get("prompt_tokens", 0), "error": report.get("error")}))
"""


def measure_run(
    path: Path, n_ctx: int, *, probes: bool = False, speed_tokens: int = 32, threads: int = 1
) -> dict[str, float]:
    """Peak RSS (`hwm_kib`), decode tokens/s and prompt tokens of one smoke-child run."""
    import json
    import subprocess
    import sys

    request = {
        "model_path": str(path),
        "settings": {
            "n_ctx": n_ctx,
            "n_gpu_layers": 0,
            "seed": 0,
            "max_tokens": 8,
            "speed_tokens": speed_tokens,
        },
        "threads": threads,
        "tuning": "base",
        "suite": None if probes else {"capabilities": []},
        "result_path": "",
    }
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert not report["error"], report["error"]
    return report  # type: ignore[no-any-return]


def measure_peak_rss_gb(path: Path, n_ctx: int, *, probes: bool = False) -> tuple[float, float]:
    """Peak RSS (GiB) and decode tokens/s of the smoke child's run of `path` at `n_ctx`."""
    report = measure_run(path, n_ctx, probes=probes)
    return report["hwm_kib"] * 1024 / GIB, float(report["decode"])


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
