"""The child process of a llama.cpp smoke test: load, measure, run the probes, report.

Run as `python -m selector.smoke.child` with a JSON request on stdin; it writes its JSON
report to the `result_path` the request names. It runs alone in its own process so a crash,
hang or out-of-memory kills only it; the parent enforces the time limit and reads the report.
The memory bound (`memory_limit_gb`, RLIMIT_DATA) is set here, before llama.cpp is imported,
and the child asks to die with its parent.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GIB = 2**30
HOOK_ENV = "SELECTOR_SMOKE_TEST_HOOK"  # test-only: "abort" | "hang" | "exit3" | "memory"


def _peak_rss_gb() -> float:
    """This process's own peak resident memory.

    On Linux, ru_maxrss survives exec: a child forked from a large parent reports the
    parent's RSS at fork time. VmHWM is the high-water mark of this process's own memory.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / GIB
    except (OSError, ValueError, IndexError):
        pass
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / GIB


def _write(path: Path, report: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    os.replace(tmp, path)


def _apply_hook(stage: str) -> None:
    hook = os.environ.get(HOOK_ENV, "")
    if hook == f"abort@{stage}" or (hook == "abort" and stage == "loaded"):
        os.abort()
    if hook == "hang" and stage == "loaded":
        while True:
            time.sleep(1)
    if hook == "exit3" and stage == "loaded":
        os._exit(3)
    if hook == "memory" and stage == "loaded":
        hog = [bytearray(64 << 20) for _ in range(10_000)]  # until the address-space cap hits
        del hog


WARMUP_TOKENS = 16  # decoded, untimed, before the timed runs (page-in, thread pool, caches)
MIN_WINDOW_S = 0.5  # shortest window over which other processes' CPU use is judged


def _speed_run(
    llm: Any, prompt: str, n_decode: int, runs: int = 1, warmup_tokens: int = WARMUP_TOKENS
) -> dict[str, Any]:
    """A warm-up, then `runs` timed runs: prefill `prompt`, greedy-decode `n_decode` tokens.

    The loop stays in llama.cpp (llama_decode + greedy sampler) so the figure is the model's
    speed on this machine, not Python's per-token overhead. It never stops early: an
    end-of-sequence token is decoded like any other, so every run times `n_decode` tokens.
    The reported figures are the medians; around each run the CPU use of other processes is
    measured (selector.smoke.contention) for the parent to judge.
    """
    import statistics

    import llama_cpp as lc

    from selector.smoke.contention import snapshot, window

    ctx = llm.ctx
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    n_batch = llm.n_batch
    room = llm.n_ctx() - n_decode - 2
    if room < 8:
        raise ValueError(f"n_ctx {llm.n_ctx()} leaves no room to decode {n_decode} tokens")
    tokens = tokens[:room]
    sampler = lc.llama_sampler_init_greedy()
    mem = lc.llama_get_memory(ctx)
    one = (lc.llama_token * 1)()
    batch = lc.llama_batch_get_one(one, 1)

    def timed(n: int) -> dict[str, float]:
        lc.llama_memory_clear(mem, True)
        t0 = time.perf_counter()
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start : start + n_batch]
            arr = (lc.llama_token * len(chunk))(*chunk)
            if lc.llama_decode(ctx, lc.llama_batch_get_one(arr, len(chunk))) != 0:
                raise RuntimeError("llama_decode failed during prefill")
        t_prefill = time.perf_counter()
        token = lc.llama_sampler_sample(sampler, ctx, -1)
        t_first = time.perf_counter()
        decode, sample = lc.llama_decode, lc.llama_sampler_sample
        t_dec = time.perf_counter()
        for _ in range(n):
            one[0] = token
            if decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed during decode")
            token = sample(sampler, ctx, -1)
        t_end = time.perf_counter()
        return {
            "time_to_first_token_ms": (t_first - t0) * 1000,
            "prefill_tokens_per_s": len(tokens) / max(t_prefill - t0, 1e-9),
            "decode_tokens_per_s": n / max(t_end - t_dec, 1e-9),
        }

    measured: list[dict[str, float]] = []
    try:
        warm = min(warmup_tokens, n_decode)
        if warm:  # as llama-bench warms up: the first pass through the graph is not timed
            timed(warm)
        start = snapshot()
        for _ in range(max(1, runs)):
            before = snapshot()
            figures = timed(n_decode)
            figures.update(window(before, snapshot()))
            measured.append(figures)
        # CPU times tick in 10 ms: a window this short says nothing, so watch a little longer
        time.sleep(max(0.0, MIN_WINDOW_S - (time.perf_counter() - start["wall"])))
        overall = window(start, snapshot())
    finally:
        lc.llama_sampler_free(sampler)
        lc.llama_memory_clear(mem, True)
        llm.reset()
    report: dict[str, Any] = {
        "prompt_tokens": len(tokens),
        "speed_tokens": n_decode,
        "speed_runs": measured,
        "contention": overall,
        "warmup": f"prefill of the same prompt and {warm} decoded tokens, not timed"
        if warm
        else "none",
    }
    for key in ("time_to_first_token_ms", "prefill_tokens_per_s", "decode_tokens_per_s"):
        report[key] = statistics.median(m[key] for m in measured)
    return report


class LlamaSession:
    """The llama.cpp side of the probe seam (selector/smoke/session.py): one prompt in, one
    answer out. The session never resets the context between probes, so llama-cpp-python's
    prefix cache prefills a shared prompt start (a long document, a chat preamble) once."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    @property
    def context_limit(self) -> int | None:
        return int(self.llm.n_ctx())

    def generate(self, request: Any) -> Any:
        from selector.smoke.session import Generation, PromptRefused, context_numbers

        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
        started = time.perf_counter()
        try:
            if request.chat:
                out = self.llm.create_chat_completion(
                    messages=[dict(m) for m in request.messages],
                    tools=[dict(t) for t in request.tools] or None,
                    **kwargs,
                )
                choice = out["choices"][0]
                message = choice["message"]
                text = message.get("content") or ""
                calls = _structured_calls(message.get("tool_calls"))
            else:
                out = self.llm.create_completion(request.prompt, **kwargs)
                choice = out["choices"][0]
                text, calls = choice["text"], ()
        except MemoryError:
            raise
        except Exception as exc:  # the prompt could not run: this probe's error, not the run's
            prompt_tokens, limit = context_numbers(str(exc))
            raise PromptRefused(
                f"{type(exc).__name__}: {exc}", prompt_tokens=prompt_tokens, limit=limit
            ) from None
        usage = out.get("usage") or {}
        return Generation(
            text=text,
            tool_calls=calls,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            seconds=time.perf_counter() - started,
        )


def _structured_calls(raw: Any) -> tuple[Any, ...]:
    """Tool calls a llama-cpp-python chat handler parsed (function-calling formats do)."""
    from selector.smoke.checkers import ToolCall

    calls = []
    for item in raw or []:
        fn = item.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError:
            args = {}
        if fn.get("name"):
            calls.append(ToolCall(fn["name"], args if isinstance(args, dict) else {}))
    return tuple(calls)


def run(request: Mapping[str, Any], checkpoint: Any = None) -> dict[str, Any]:
    """Everything the child measures, as a JSON-able dict (the parent builds the result).

    `checkpoint(report)` is called after each probe, so a child killed at its time limit
    still leaves the probes it finished.
    """
    from selector.smoke.interface import SmokeSettings
    from selector.smoke.runtime import child_runtime

    settings = SmokeSettings.model_validate(request["settings"]).model_copy(
        update={"suite": _suite(request)}
    )
    report: dict[str, Any] = {"stage": "start"}
    import llama_cpp

    from selector.smoke.probes import SPEED_PROMPT

    report["llama_cpp_version"] = llama_cpp.__version__
    threads = int(request["threads"])
    t0 = time.perf_counter()
    try:
        llm = llama_cpp.Llama(
            model_path=request["model_path"],
            **child_runtime(settings.n_ctx).llama_kwargs(),
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=settings.n_gpu_layers,
            seed=settings.seed,
            verbose=True,  # llama.cpp's log goes to the parent's log file, for error causes
        )
    except (ValueError, RuntimeError) as exc:
        if "load model" in str(exc):  # the file itself: corrupt, cut short, unknown arch
            error = f"not a loadable GGUF for llama.cpp {llama_cpp.__version__}: {exc}"
        else:  # the file loaded but the context (KV cache, compute buffers) did not fit
            error = f"llama.cpp could not create a context: {exc}"
        if settings.memory_limit_gb:
            error += f" (a {settings.memory_limit_gb:.3g} GiB memory limit was in force)"
        report.update(stage="load", error=error)
        return report
    report["load_time_s"] = time.perf_counter() - t0
    report["n_ctx"] = llm.n_ctx()
    report["stage"] = "loaded"
    _apply_hook("loaded")

    report.update(_speed_run(llm, SPEED_PROMPT, settings.speed_tokens, settings.speed_runs))
    report["stage"] = "probes"
    report["probes"] = []

    def done(outcome: Any) -> None:
        report["probes"].append(outcome.model_dump(mode="json"))
        if checkpoint is not None:
            checkpoint(report)

    from selector.smoke.suite import run_probes
    from selector.vocab import Tuning

    run_probes(LlamaSession(llm), settings, Tuning(request["tuning"]), on_outcome=done)
    report["stage"] = "done"
    return report


def _suite(request: Mapping[str, Any]) -> Any:
    from selector.smoke.probes import SuitePlan

    return SuitePlan.model_validate(request.get("suite") or {})


def _bound_memory(limit_gb: float) -> None:
    """Cap the private writable memory (RLIMIT_DATA), before llama.cpp is imported.

    RLIMIT_DATA (Linux >= 4.7) counts heap and private writable mappings: the KV cache, the
    compute buffers, repacked weights, Python. The read-only mapping of the model file is not
    counted (its pages are page cache, which the kernel can drop), so the cap needs no room for
    the file, unlike RLIMIT_AS, which also counts every thread's reserved malloc arena.
    """
    cap = int(limit_gb * GIB)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this child when the selector that started it dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux") or not parent_pid:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def main() -> int:
    request = json.loads(sys.stdin.read())
    _die_with_parent(int(request.get("parent_pid") or 0))
    result_path = Path(request["result_path"])
    limit = request["settings"].get("memory_limit_gb")
    if limit:
        _bound_memory(float(limit))
    _apply_hook("start")
    try:
        report = run(request, checkpoint=lambda partial: _write(result_path, partial))
    except MemoryError:
        bound = f" under the {float(limit):.3g} GiB memory limit" if limit else ""
        report = {"error": f"out of memory{bound}"}
    except Exception as exc:
        report = {"error": f"{type(exc).__name__}: {exc}"}
    report["peak_rss_gb"] = _peak_rss_gb()
    _write(result_path, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
