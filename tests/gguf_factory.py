"""Tiny GGUF models written with the `gguf` package, loadable by llama.cpp, for fast tests.

The weights are random, so the text is noise, but loading, tokenizing, the chat template and
decoding go through llama.cpp for real. The tokenizer is SentencePiece-style with byte fallback:
any text tokenizes, one byte per token at worst.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

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


def _vocab() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    tokens += ["▁", *_WORD_PIECES]
    types += [TokenType.NORMAL] * (1 + len(_WORD_PIECES))
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
    tokens, scores, types = _vocab()
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
