"""CPU decode time per byte of each weight type, against Q8_0 (the baseline), on this machine.

One generated llama-shaped model (12 layers, n_embd 768, 32k vocabulary) written in each type,
decoded by the smoke child (128 tokens, the smoke runner's threads) in interleaved rounds; the
per-token overhead the decode model assigns to every type alike is subtracted, so what is left
is the weights' matmul time over the bytes they read. `quant.CPU_SLOW_KERNEL_TIME` comes from
this table.

    .venv/bin/python bench/quant_types.py [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.gguf_models import make_fit_gguf, measure_run  # noqa: E402

from selector.fit.decode_model import default_model  # noqa: E402
from selector.fit.gguf_read import shape_from_gguf  # noqa: E402
from selector.fit.llama_cpp_check import BENCH_CACHE  # noqa: E402
from selector.fit.speed import attention_macs_per_token  # noqa: E402
from selector.hardware import detect_hardware  # noqa: E402

TYPES = ("Q8_0", "Q6_K", "Q4_K_M", "Q4_0", "Q5_0")
SHAPE = {"arch": "llama", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_head_kv": 4,
         "n_ff": 2048, "n_vocab": 32_000}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="default: the physical cores")
    args = parser.parse_args()
    hw = detect_hardware()
    threads = args.threads or hw.cpu_cores or 1
    paths = {}
    for qtype in TYPES:
        path = BENCH_CACHE / "quant-types" / f"h64-{qtype}.gguf"
        if not path.is_file():
            print(f"generating {path} ...", file=sys.stderr)
            make_fit_gguf(path, qtype=qtype, **SHAPE)  # type: ignore[arg-type]
        paths[qtype] = path
    print(f"machine: {hw.cpu_model}, {hw.cpu_cores} cores; {threads} thread(s), n_ctx 512, "
          f"128 tokens, median of {args.rounds} interleaved rounds; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    rates: dict[str, list[float]] = {q: [] for q in TYPES}
    for _ in range(args.rounds):
        for qtype, path in paths.items():
            rates[qtype].append(float(measure_run(path, 512, speed_tokens=128,
                                                  threads=threads)["decode"]))  # fmt: skip
    overhead = default_model("cpu", hw.cpu_cores)
    per_byte: dict[str, float] = {}
    print(f"{'type':8} {'tokens/s':>9} {'MB read':>8} {'matmul ms':>9} {'GB/s':>6} "
          "time per byte vs Q8_0")  # fmt: skip
    for qtype, path in paths.items():
        shape = shape_from_gguf(path)
        read = shape.active_weights_bytes - shape.embedding_bytes
        macs = attention_macs_per_token(shape, 512, swa_full=True)  # ~510 cells used
        ms = 1e3 / statistics.median(rates[qtype]) - 1e3 * (
            overhead.overhead_s(shape.n_layers, shape.n_vocab) + overhead.attention_s(macs)
        )
        per_byte[qtype] = ms / read
        ratio = per_byte[qtype] / per_byte["Q8_0"]
        print(f"{qtype:8} {statistics.median(rates[qtype]):>9.1f} {read / 1e6:>8.1f} "
              f"{ms:>9.2f} {read / ms / 1e6:>6.1f} {ratio:>6.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
