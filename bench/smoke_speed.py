"""Decode speed reported by `selector smoke` against llama.cpp's own `llama-bench` tg128.

Both run on the same GGUF and thread count, alternating, a few rounds; the medians and their
ratio are printed, with the smoke run's wall time and the cached rerun's time.

llama-bench is built once from the llama.cpp source vendored in the llama-cpp-python sdist of
the installed version, into a cache folder (default .bench-cache/, git-ignored). Without a
compiler or the sdist, the reference falls back to a plain llama_decode loop on the C API
through llama_cpp's low-level bindings (no sampling), which is what llama-bench times.

    python bench/smoke_speed.py [MODEL.gguf] [--threads 2] [--rounds 3]

MODEL defaults to the Gemma 3 270M Q4_K_M file of the `demo` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, check=False, **kw)  # type: ignore[call-overload]


def llama_bench_binary(cache: Path) -> Path | None:
    """llama-bench built from the installed llama-cpp-python's sdist; None if it cannot be."""
    version = metadata.version("llama_cpp_python")
    build = cache / "llama.cpp-build"
    exe = build / "bin" / "llama-bench"
    if exe.is_file():
        return exe
    if not (shutil.which("cmake") and (shutil.which("c++") or shutil.which("g++"))):
        print("no cmake/c++: cannot build llama-bench", file=sys.stderr)
        return None
    src = cache / f"llama.cpp-src-{version}"
    if not (src / "CMakeLists.txt").is_file():
        sdist_dir = cache / "sdist"
        sdist_dir.mkdir(parents=True, exist_ok=True)
        archives = list(sdist_dir.glob(f"llama_cpp_python-{version}.tar.gz"))
        if not archives:
            print(f"downloading the llama-cpp-python {version} sdist ...", file=sys.stderr)
            got = _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    f"llama-cpp-python=={version}",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                    str(sdist_dir),
                ]
            )
            archives = list(sdist_dir.glob(f"llama_cpp_python-{version}.tar.gz"))
            if not archives:
                print(f"sdist download failed: {got.stderr[-400:]}", file=sys.stderr)
                return None
        prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
        with tarfile.open(archives[0]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            for m in members:
                m.name = m.name[len(prefix) :]
            tar.extractall(src, members=[m for m in members if m.name], filter="data")
    print("building llama-bench (once) ...", file=sys.stderr)
    if not (build / "CMakeCache.txt").is_file():
        conf = _run(
            [
                "cmake",
                "-S",
                str(src),
                "-B",
                str(build),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DLLAMA_CURL=OFF",
                "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_SERVER=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF",
            ]
        )
        if conf.returncode:
            print(f"cmake configure failed: {conf.stderr[-400:]}", file=sys.stderr)
            return None
    jobs = str(os.cpu_count() or 2)
    built = _run(["cmake", "--build", str(build), "--target", "llama-bench", "-j", jobs])
    if built.returncode or not exe.is_file():
        print(f"llama-bench build failed: {built.stderr[-400:]}", file=sys.stderr)
        return None
    return exe


def llama_bench_tg(exe: Path, model: Path, threads: int, reps: int) -> float:
    """llama-bench tg128 tokens/s (flash attention off, as llama-cpp-python's default)."""
    out = _run(
        [
            str(exe),
            "-m",
            str(model),
            "-t",
            str(threads),
            "-p",
            "0",
            "-n",
            "128",
            "-r",
            str(reps),
            "-fa",
            "0",
            "-o",
            "json",
        ]
    )
    if out.returncode:
        raise RuntimeError(f"llama-bench failed: {out.stderr[-400:]}")
    rows = [r for r in json.loads(out.stdout) if r.get("n_gen") == 128]
    return float(rows[0]["avg_ts"])


def c_api_tg(model: Path, threads: int, n_gen: int = 128) -> float:
    """The fallback reference: llama_decode one token at a time, no sampling, as llama-bench."""
    import llama_cpp as lc

    llm = lc.Llama(str(model), n_ctx=512, n_threads=threads, n_threads_batch=threads, verbose=False)
    one = (lc.llama_token * 1)(1)
    batch = lc.llama_batch_get_one(one, 1)
    lc.llama_decode(llm.ctx, batch)  # warm-up
    lc.llama_memory_clear(lc.llama_get_memory(llm.ctx), True)
    t0 = time.perf_counter()
    for _ in range(n_gen):
        lc.llama_decode(llm.ctx, batch)
    return n_gen / (time.perf_counter() - t0)


def smoke_run(model: Path, threads: int, *, cached: bool) -> tuple[float, float, dict]:
    """(decode tokens/s, wall seconds, result) of `selector smoke --format json`."""
    cmd = [
        sys.executable,
        "-m",
        "selector",
        "smoke",
        str(model),
        "--format",
        "json",
        "--threads",
        str(threads),
    ]
    if not cached:
        cmd.append("--no-cache")
    t0 = time.perf_counter()
    out = _run(cmd, cwd=REPO)
    wall = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise RuntimeError(f"selector smoke failed ({out.returncode}): {out.stderr[-400:]}")
    data = json.loads(out.stdout)
    return float(data["decode_tokens_per_s"]), wall, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3, help="llama-bench -r per round")
    parser.add_argument("--cache", type=Path, default=REPO / ".bench-cache")
    args = parser.parse_args()

    model = args.model
    if model is None:
        from selector.smoke.discovery import demo_model_path

        model = demo_model_path()
        if model is None:
            parser.error("no MODEL given and the `demo` extra is not installed")
    exe = llama_bench_binary(args.cache)
    ref_name = "llama-bench tg128" if exe else "C-API llama_decode loop (fallback)"

    refs: list[float] = []
    smokes: list[float] = []
    walls: list[float] = []
    for i in range(args.rounds):
        ref = (
            llama_bench_tg(exe, model, args.threads, args.reps)
            if exe
            else c_api_tg(model, args.threads)
        )
        tps, wall, _ = smoke_run(model, args.threads, cached=False)
        refs.append(ref)
        smokes.append(tps)
        walls.append(wall)
        print(
            f"round {i + 1}: {ref_name} {ref:.1f} tok/s | selector smoke {tps:.1f} tok/s "
            f"({tps / ref:.2f}x) | smoke wall {wall:.1f} s"
        )
    _, cached_wall, cached = smoke_run(model, args.threads, cached=True)

    ref, tps = statistics.median(refs), statistics.median(smokes)
    print(
        f"\nmodel: {model.name}  threads: {args.threads}  llama-cpp-python "
        f"{metadata.version('llama_cpp_python')}  rounds: {args.rounds}"
    )
    print(f"{ref_name}: {ref:.1f} tokens/s (median)")
    print(f"selector smoke decode: {tps:.1f} tokens/s (median)")
    print(f"ratio smoke / reference: {tps / ref:.2f}x (goal: >= 0.90x)")
    print(f"smoke wall time: {statistics.median(walls):.1f} s (median, uncached)")
    print(f"cached rerun: {cached_wall:.2f} s (cached={cached['cached']}; goal: < 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
