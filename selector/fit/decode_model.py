"""Decode time per token: bytes over bandwidth x efficiency plus attention and overhead.

    s/token = bytes / (bandwidth x efficiency) + attention MACs x attention
              + n_layers x layer + n_vocab x vocab + fixed

`bytes` includes the KV cache read; `attention MACs` are the multiply-adds of attending over
it (query heads x (key + value length) per cell and layer), compute-bound on a CPU.

The coefficients are fitted to the smoke runs of one machine by non-negative least squares on
the relative error of the time per token (docs/fit.md, "Decode speed").
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy (a dependency of gguf) is imported only when a fit runs: startup
    import numpy as np

# Per-token overhead when nothing was measured. CPU: fitted here (bench/fit_accuracy.py: the
# smoke child's decode loop on a 2-core AMD EPYC, 7 models with 6 to 28 layers and 32k to
# 262k vocabularies): 0.08-0.16 ms per layer at 2 threads (the graph's small non-matmul ops,
# their dispatch and thread barriers) and a few ns per vocabulary entry (the greedy sampler's
# scan of the logits). Attention (llama.cpp's F16 K and V, flash attention off): ~0.2 ns per
# multiply-add on one thread, 0.066-0.077 ns on two (fits of the bench's runs), so ~0.15 ns
# per core; the default divides DEFAULT_ATTN_NS_PER_MAC_CORE by the machine's cores.
# GPU: nothing measured (no GPU here); an assumption of kernel launches, ~0.03 ms per layer,
# plus 0.3 ms for the logits copy and host-side sampling; attention on a GPU is bound by
# reading the KV cache (in the bytes), its compute left out.
DEFAULT_EFFICIENCY = {"gpu": 0.55, "cpu": 0.5}
DEFAULT_LAYER_MS = {"gpu": 0.03, "cpu": 0.15}
DEFAULT_VOCAB_NS = {"gpu": 1.0, "cpu": 2.0}
DEFAULT_FIXED_MS = {"gpu": 0.3, "cpu": 0.0}
DEFAULT_ATTN_NS_PER_MAC_CORE = {"gpu": 0.0, "cpu": 0.15}
# The full fit is pulled toward the defaults, as if each constant had been measured at its
# default once more with this spread (a ridge prior): a few smoke-tested models of similar
# shape cannot tell per-layer cost from bandwidth apart, and unpulled the fit then puts a
# per-layer cost of 0 and an extreme efficiency on them (docs/fit.md). PRIOR_WEIGHT is that
# pseudo-measurement's weight against one sample's relative error.
PRIOR_WEIGHT = 0.2
PRIOR_SPREAD = {"layer_ms": 0.1, "vocab_ns": 4.0, "fixed_ms": 0.5, "attn_ns_per_mac": 0.5}
# A full fit (efficiency, attention, three overhead constants) needs samples from at least
# this many different models; with fewer, only the efficiency is fitted, overheads default.
MIN_MODELS_FOR_FULL_FIT = 3
MIN_SAMPLES_FOR_FULL_FIT = 4


@dataclass(frozen=True)
class DecodeSample:
    """One measured decode run: what the model reads per token and how fast it went."""

    bytes_per_token: float
    bandwidth_gb_s: float
    n_layers: int
    n_vocab: int
    context_used: int
    measured_tps: float
    threads: int = 0
    kv_bytes_per_token: float = 0.0
    attn_macs_per_token: float = 0.0
    detail: str = ""
    at: str = ""

    @property
    def model_key(self) -> tuple[int, int, int]:
        """Which model this is, as far as the fit can tell models apart (the weights it reads,
        not the KV cache, which grows with the context of the run)."""
        weights = self.bytes_per_token - self.kv_bytes_per_token
        return (round(weights / 1e5), self.n_layers, self.n_vocab)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> DecodeSample | None:
        """The sample, or None for anything malformed, or stored by an earlier version (a bare
        ratio, or a sample without attention multiply-adds)."""
        if not isinstance(data, dict) or "attn_macs_per_token" not in data:
            return None
        names = {f.name for f in fields(cls)}
        try:
            sample = cls(**{k: v for k, v in data.items() if k in names})
            numbers = (sample.bytes_per_token, sample.bandwidth_gb_s, sample.measured_tps)
            ok = all(isinstance(x, int | float) and math.isfinite(x) and x > 0 for x in numbers)
            ok = ok and isinstance(sample.n_layers, int) and isinstance(sample.n_vocab, int)
            ok = ok and isinstance(sample.attn_macs_per_token, int | float)
            ok = ok and sample.attn_macs_per_token >= 0
        except TypeError:
            return None
        return sample if ok and sample.n_layers >= 0 and sample.n_vocab >= 0 else None


@dataclass(frozen=True)
class DecodeModel:
    """Efficiency and per-token overhead constants, with where they come from."""

    efficiency: float
    layer_ms: float
    vocab_ns: float
    fixed_ms: float
    source: str
    calibrated: bool = False
    attn_ns_per_mac: float = 0.0  # attention compute per multiply-add

    def overhead_s(self, n_layers: int, n_vocab: int) -> float:
        return (n_layers * self.layer_ms + self.fixed_ms) / 1e3 + n_vocab * self.vocab_ns / 1e9

    def attention_s(self, attn_macs: float) -> float:
        return attn_macs * self.attn_ns_per_mac / 1e9

    def seconds_per_token(
        self, bytes_seconds: float, n_layers: int, n_vocab: int, attn_macs: float = 0.0
    ) -> float:
        """`bytes_seconds`: all bytes read per token over the bandwidth (efficiency 1);
        `attn_macs`: the attention multiply-adds per token."""
        return (
            bytes_seconds / self.efficiency
            + self.attention_s(attn_macs)
            + self.overhead_s(n_layers, n_vocab)
        )

    def describe_attention(self, attn_macs: float) -> str:
        """'+ 4.2 ms attention (21 M multiply-adds x 0.2 ns)', or '' when it is 0."""
        if not (self.attn_ns_per_mac and attn_macs):
            return ""
        count = f"{attn_macs / 1e9:.3g} G" if attn_macs >= 1e9 else f"{attn_macs / 1e6:.3g} M"
        return (
            f" + {self.attention_s(attn_macs) * 1e3:.2g} ms attention ({count} "
            f"multiply-adds x {self.attn_ns_per_mac:.2g} ns)"
        )

    def describe_overhead(self, n_layers: int, n_vocab: int) -> str:
        parts = [f"{n_layers} layers x {self.layer_ms:.3g} ms"]
        if self.vocab_ns:
            parts.append(f"{n_vocab:,} vocabulary x {self.vocab_ns:.3g} ns")
        if self.fixed_ms:
            parts.append(f"{self.fixed_ms:.3g} ms")
        total = self.overhead_s(n_layers, n_vocab) * 1e3
        return f"{total:.2g} ms per-token overhead ({' + '.join(parts)})"


def default_model(target: str, cores: int | None = None) -> DecodeModel:
    """The uncalibrated model; CPU attention runs on all `cores` (unknown: 4)."""
    return DecodeModel(
        DEFAULT_EFFICIENCY[target],
        DEFAULT_LAYER_MS[target],
        DEFAULT_VOCAB_NS[target],
        DEFAULT_FIXED_MS[target],
        "default; not calibrated",
        attn_ns_per_mac=DEFAULT_ATTN_NS_PER_MAC_CORE[target] / max(cores or 4, 1),
    )


def nnls(a: np.ndarray, b: np.ndarray, required: int = 0) -> np.ndarray | None:
    """Least squares with x >= 0 (and x[required] > 0), exactly, by trying every column set.

    With five unknowns that is 16 small solves; no scipy needed.
    """
    import numpy as np

    n = a.shape[1]
    others = [i for i in range(n) if i != required]
    best: tuple[float, np.ndarray] | None = None
    for k in range(len(others) + 1):
        for subset in itertools.combinations(others, k):
            cols = [required, *subset]
            x, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if x[0] <= 0 or (x[1:] < 0).any():
                continue
            full = np.zeros(n)
            full[cols] = x
            residual = float(np.sum((a @ full - b) ** 2))
            if best is None or residual < best[0]:
                best = (residual, full)
    return None if best is None else best[1]


def _count(samples: tuple[DecodeSample, ...]) -> str:
    models = len({s.model_key for s in samples})
    return f"{len(samples)} smoke test(s) of {models} model(s) on this machine"


@functools.lru_cache(maxsize=64)
def fit_decode_model(
    samples: tuple[DecodeSample, ...], target: str = "cpu", cores: int | None = None
) -> DecodeModel:
    """The model that best explains `samples` (relative error of the time per token).

    No samples: the defaults. Fewer than MIN_MODELS_FOR_FULL_FIT models: the efficiency only,
    with the default overheads and attention (a single model cannot tell them apart).
    """
    base = default_model(target, cores)
    if not samples:
        return base
    import numpy as np

    seconds = np.array([1.0 / s.measured_tps for s in samples])
    design = np.array(
        [
            [
                s.bytes_per_token / (s.bandwidth_gb_s * 1e9),
                s.n_layers,
                s.n_vocab,
                1.0,
                s.attn_macs_per_token / 1e9,  # seconds at 1 ns per multiply-add
            ]
            for s in samples
        ]
    )
    models = len({s.model_key for s in samples})
    if models >= MIN_MODELS_FOR_FULL_FIT and len(samples) >= MIN_SAMPLES_FOR_FULL_FIT:
        # prior rows: column j's coefficient ~ its default, in the column's units
        priors = [
            (1, base.layer_ms / 1e3, PRIOR_SPREAD["layer_ms"] / 1e3),
            (2, base.vocab_ns / 1e9, PRIOR_SPREAD["vocab_ns"] / 1e9),
            (3, base.fixed_ms / 1e3, PRIOR_SPREAD["fixed_ms"] / 1e3),
            (
                4,
                base.attn_ns_per_mac,
                max(base.attn_ns_per_mac, 0.1) * PRIOR_SPREAD["attn_ns_per_mac"],
            ),
        ]
        rows = np.zeros((len(priors), design.shape[1]))
        targets = np.zeros(len(priors))
        for i, (col, value, spread) in enumerate(priors):
            rows[i, col] = PRIOR_WEIGHT / spread
            targets[i] = PRIOR_WEIGHT * value / spread
        x = nnls(
            np.vstack([design / seconds[:, None], rows]),
            np.concatenate([np.ones(len(samples)), targets]),
        )
        if x is not None:
            return DecodeModel(
                efficiency=1.0 / x[0],
                layer_ms=x[1] * 1e3,
                vocab_ns=x[2] * 1e9,
                fixed_ms=x[3] * 1e3,
                source=f"calibrated from {_count(samples)}",
                calibrated=True,
                attn_ns_per_mac=x[4],
            )
    # Efficiency only: minimise sum((b_i / e + o_i) / t_i - 1)^2 over 1/e.
    overhead = np.array(
        [
            base.overhead_s(s.n_layers, s.n_vocab) + base.attention_s(s.attn_macs_per_token)
            for s in samples
        ]
    )
    rel_bytes = design[:, 0] / seconds
    inverse = float(np.dot(rel_bytes, 1.0 - overhead / seconds) / np.dot(rel_bytes, rel_bytes))
    note = "default overheads"
    if inverse <= 0:  # the default overhead alone is slower than what was measured
        inverse = float(np.dot(rel_bytes, np.ones(len(samples))) / np.dot(rel_bytes, rel_bytes))
        base = DecodeModel(base.efficiency, 0.0, 0.0, 0.0, base.source)
        note = "no overhead (the default overhead exceeds the measured time)"
    return DecodeModel(
        efficiency=1.0 / inverse,
        layer_ms=base.layer_ms,
        vocab_ns=base.vocab_ns,
        fixed_ms=base.fixed_ms,
        source=f"efficiency calibrated from {_count(samples)}, {note}",
        calibrated=True,
        attn_ns_per_mac=base.attn_ns_per_mac,
    )
