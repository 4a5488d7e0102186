"""How noisy is one smoke decode figure? Cold first run vs warm runs, and the median's spread.

Each round starts a fresh process (as the smoke child does), loads the GGUF, and times:

- `cold`: the first timed run right after loading, without the warm-up (what the smoke child
  measured before it warmed up); with `--evict`, the file's pages are first dropped from the
  page cache (posix_fadvise DONTNEED, no root needed), so the cold run also reads the
  weights from disk, as the first run after a download or a reboot does;
- `warm`: the smoke child's own measurement, `_speed_run` with its warm-up and `--runs` timed
  runs (the median is what `selector smoke` reports).

It prints every round's figures, the other processes' CPU use the child measured around the
timed runs (selector.smoke.contention) and whether that makes the round busy, then the median
cold and warm figures over the rounds, their ratio, and the spread of the warm runs.

    python bench/smoke_noise.py [MODEL.gguf] [--threads 2] [--rounds 3] [--runs 3] [--tokens 64]
                                [--evict]

MODEL defaults to the Gemma 3 270M Q4_K_M file of the `demo` extra. On a shared machine,
run it two or three times and read the busy column before trusting a ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

_ROUND = r"""
import json, sys, psutil
import llama_cpp
from selector.smoke.child import _speed_run
from selector.smoke.contention import busy_verdict
from selector.smoke.probes import PROBES
req = json.loads(sys.argv[1])
llm = llama_cpp.Llama(model_path=req["model"], n_ctx=2048, n_batch=512, n_threads=req["threads"],
                      n_threads_batch=req["threads"], verbose=False)
prompt = next(p for p in PROBES if p.kind == "recall").completion_prompt
cold = _speed_run(llm, prompt, req["tokens"], runs=1, warmup_tokens=0)
warm = _speed_run(llm, prompt, req["tokens"], runs=req["runs"])
busy, detail = busy_verdict([warm["contention"]], psutil.cpu_count() or 1)
print(json.dumps({"cold": cold["decode_tokens_per_s"], "cold_ttft": cold["time_to_first_token_ms"],
                  "warm": warm["decode_tokens_per_s"], "warm_ttft": warm["time_to_first_token_ms"],
                  "runs": [r["decode_tokens_per_s"] for r in warm["speed_runs"]],
                  "busy": busy, "detail": detail}))
"""


def _evict(path: Path) -> None:
    """Drop the file's clean pages from the page cache (Linux; a no-op where unsupported)."""
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--evict", action="store_true", help="drop the file from the page cache")
    args = parser.parse_args()
    model = args.model
    if model is None:
        from selector.smoke.discovery import demo_model_path

        model = demo_model_path()
        if model is None:
            parser.error("no MODEL given and the `demo` extra is not installed")
    request = {
        "model": str(model),
        "threads": args.threads,
        "runs": args.runs,
        "tokens": args.tokens,
    }
    rounds = []
    print(f"{model.name}: {args.threads} threads, {args.tokens} tokens per timed run")
    print("round  cold tok/s  warm median  warm runs                busy   other CPU")
    for i in range(args.rounds):
        if args.evict:
            _evict(model)
        out = subprocess.run(
            [sys.executable, "-c", _ROUND, json.dumps(request)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rounds.append(r)
        runs = ", ".join(f"{v:.1f}" for v in r["runs"])
        print(
            f"{i + 1:>5}  {r['cold']:>10.1f}  {r['warm']:>11.1f}  {runs:<23}  "
            f"{r['busy']!s:<5}  {r['detail']}"
        )
    cold = statistics.median(r["cold"] for r in rounds)
    warm = statistics.median(r["warm"] for r in rounds)
    spreads = [
        (max(r["runs"]) - min(r["runs"])) / statistics.median(r["runs"])
        for r in rounds
        if len(r["runs"]) > 1
    ]
    print(
        f"median cold {cold:.1f} tok/s, median warm {warm:.1f} tok/s, cold/warm {cold / warm:.2f}"
    )
    if spreads:
        print(
            f"spread of the warm runs within a round (max-min)/median: "
            f"median {statistics.median(spreads):.0%}, worst {max(spreads):.0%}"
        )
    print(f"busy rounds: {sum(bool(r['busy']) for r in rounds)} of {len(rounds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
