"""The smoke child's llama.cpp runtime settings, written once.

The child passes them to `llama_cpp.Llama`; the memory prediction beside a smoke run
(selector/fit/smoke_link.py) and llama.cpp's own estimate (`selector smoke`, bench/) read the
same values, so a change here changes all three together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_BATCH = 512


@dataclass(frozen=True)
class ChildRuntime:
    """What the child's `Llama(...)` is built with, besides the model, threads and seed.

    `swa_full = True` and `flash_attn = False` are llama-cpp-python's defaults (a full-size
    cache for sliding-window layers, attention without the fused kernel); they are spelled out
    so a new default upstream cannot change the measurement unnoticed.
    """

    n_ctx: int
    n_batch: int
    n_ubatch: int
    swa_full: bool = True
    flash_attn: bool = False

    def llama_kwargs(self) -> dict[str, Any]:
        return {
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_ubatch": self.n_ubatch,
            "swa_full": self.swa_full,
            "flash_attn": self.flash_attn,
        }


def child_runtime(n_ctx: int) -> ChildRuntime:
    """The runtime of a smoke child at `n_ctx`: batches of min(512, n_ctx) tokens."""
    batch = min(MAX_BATCH, n_ctx)
    return ChildRuntime(n_ctx=n_ctx, n_batch=batch, n_ubatch=batch)
