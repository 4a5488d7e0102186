"""GGUF models written with the `gguf` package, loadable by llama.cpp: the one generator the
tests and the benches share.

`make_tiny_gguf`: tiny models for fast tests. The weights are random, so the text is noise, but
loading, tokenizing, the chat template and decoding go through llama.cpp for real. The
tokenizer is SentencePiece-style with byte fallback: any text tokenizes, one byte per token at
worst.

`make_fit_gguf` (and `TINY_MODELS`): small but not trivial models (a 32k vocabulary, quantized
Q8_0 or Q4_0 tensors, llama.cpp's own K-quants, a Gemma 3 layout with sliding-window layers)
so that weights, KV cache, repacked tensors and vocabulary tables all show in a measurement;
`measure_run` measures the smoke child's peak on them (tests/test_fit_measured.py,
bench/fit_accuracy.py, bench/quant_types.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType
from gguf.quants import quantize

GIB = 2**30

# A chat template in the ChatML shape, for models generated as instruct.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORD_PIECES = [
    *("▁the", "▁a", "▁is", "▁of", "▁and", "▁to", "▁in", "▁answer", "▁json", "▁city"),
    *("▁hello", "▁code", "▁call", "▁name"),
    *"etaoinshrdlucmwfgypbvk",
]


def _vocab(words: list[str]) -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style: unknown, BOS, EOS, the 256 byte-fallback tokens, `▁`, then `words`
    (scored so that earlier words are preferred)."""
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), "▁", *words]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, *[TokenType.BYTE] * 256]
    types += [TokenType.NORMAL] * (1 + len(words))
    scores = [0.0] * 259 + [-float(i) for i in range(len(tokens) - 259)]
    return tokens, scores, [int(t) for t in types]


def make_tiny_gguf(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 128,
    n_ctx_train: int = 4096,
    name: str = "Tiny Test",
    basename: str | None = None,
    size_label: str | None = None,
    finetune: str | None = None,
    chat_template: str | None = None,
    seed: int = 0,
) -> Path:
    """Write a llama-architecture GGUF with random F32 weights; returns `path`.

    `arch` is written as `general.architecture` and as the key prefix; llama.cpp loads it only
    for architectures whose tensors match the llama layout ("llama" is the safe choice).
    """
    if n_embd % n_head or n_head % n_head_kv:
        raise ValueError("n_head must divide n_embd and n_head_kv must divide n_head")
    rng = np.random.default_rng(seed)
    head_dim = n_embd // n_head
    tokens, scores, types = _vocab(list(_WORD_PIECES))
    n_vocab = len(tokens)

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), arch)
    writer.add_name(name)
    if basename:
        writer.add_basename(basename)
    if size_label:
        writer.add_size_label(size_label)
    if finetune:
        writer.add_finetune(finetune)
    writer.add_file_type(LlamaFileType.ALL_F32)
    writer.add_context_length(n_ctx_train)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    if chat_template:
        writer.add_chat_template(chat_template)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(n_vocab, n_embd))
    for i in range(n_layer):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_q.weight", weight(n_head * head_dim, n_embd))
        writer.add_tensor(f"{blk}.attn_k.weight", weight(n_head_kv * head_dim, n_embd))
        writer.add_tensor(f"{blk}.attn_v.weight", weight(n_head_kv * head_dim, n_embd))
        writer.add_tensor(f"{blk}.attn_output.weight", weight(n_embd, n_head * head_dim))
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{blk}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"{blk}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"{blk}.ffn_down.weight", weight(n_embd, n_ff))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def make_corrupt_gguf(path: Path, *, keep_bytes: int = 4096, source: Path | None = None) -> Path:
    """A file that starts like a GGUF but is cut short (or is plain junk without `source`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        path.write_bytes(source.read_bytes()[:keep_bytes])
    else:
        path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    return path


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


def _fit_vocab(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """`_vocab` padded to `n_vocab` entries with made-up words (a, b, ..., ba, ...)."""
    letters = "etaoinshrdlucmwfgypbvkjxqz"
    words: list[str] = []
    for i in range(max(n_vocab - 260, 0)):
        word, k = "", i
        while True:
            word += letters[k % 26]
            k //= 26
            if k == 0:
                break
        words.append("▁" + word)
    return _vocab(words)


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
    tokens, scores, types = _fit_vocab(n_vocab)
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
