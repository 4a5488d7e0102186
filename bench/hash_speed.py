"""Hashing speed and the cost of a rerun of `selector models`, each beside a named baseline.

1. sha256 of a 1 GiB file: selector's `selector.weights.hashing.sha256_of` (in process) against
   coreutils `sha256sum` (a subprocess), alternating, the page cache warm for both. Prints the
   medians and the throughput ratio selector / sha256sum. Goal: >= 0.9x.
2. `selector models --format json` over 20 GGUF files in the tool caches of a temporary HOME
   (Hugging Face hub cache, Ollama, LM Studio, a --models-dir), every one pinned by a catalog
   artifact so the first run hashes them all: the first run, then the median of the reruns,
   which read the remembered hashes. Beside it, `selector --version` (the CLI's own start).
   Goal: rerun < 0.5 s.

    .venv/bin/python bench/hash_speed.py [--runs 5] [--size-mib 1024] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.caches import hf_snapshot, lmstudio_model, ollama_model, sha256_file  # noqa: E402
from support.gguf_models import make_tiny_gguf  # noqa: E402

from selector.weights.hashing import sha256_of  # noqa: E402

ENV_DROP = (
    "HF_HUB_CACHE",
    "HF_HOME",
    "HUGGINGFACE_HUB_CACHE",
    "LLAMA_CACHE",
    "OLLAMA_MODELS",
    "XDG_CACHE_HOME",
    "PYTHONDONTWRITEBYTECODE",
)


def make_big_file(path: Path, size_mib: int) -> None:
    if path.exists() and path.stat().st_size == size_mib << 20:
        return
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(size_mib):
            fh.write(block[i % 256 :] + block[: i % 256])  # no two MiB alike


def bench_hash(work: Path, runs: int, size_mib: int) -> None:
    big = work / "big.bin"
    make_big_file(big, size_mib)
    if shutil.which("sha256sum") is None:
        sys.exit("sha256sum not found: the baseline is coreutils sha256sum")
    sha256_of(big)  # warm the page cache for both sides
    ours, theirs = [], []
    for _ in range(runs):
        start = time.perf_counter()
        a = sha256_of(big)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = subprocess.run(["sha256sum", str(big)], capture_output=True, check=True, text=True)
        theirs.append(time.perf_counter() - start)
        if out.stdout.split()[0] != a:
            sys.exit("the two digests differ")
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    mib = size_mib
    print(f"sha256 of {mib} MiB, page cache warm, {runs} alternating runs each:")
    print(f"  sha256sum (coreutils)        median {m_theirs:6.3f} s  {mib / m_theirs:7.0f} MiB/s")
    print(f"  selector sha256_of           median {m_ours:6.3f} s  {mib / m_ours:7.0f} MiB/s")
    print(f"  ratio selector / sha256sum   {m_theirs / m_ours:.2f}x throughput (goal >= 0.9x)")


CATALOG_HEAD = """
[[license]]
id = "bench-license"
name = "Bench"
osi_approved = true
commercial_use = true
url = "https://example.com/l"
sources = ["https://example.com/l"]

[[model]]
id = "benchtiny-1b"
name = "bench"
family = "benchtiny"
organization = "Bench"
origin_country = "FR"
release_date = 2025-01-01
params_b = 1.0
architecture = "dense"
layers = 2
context_tokens = 4096
license = "bench-license"
gguf_arch = "benchtiny"
sources = ["https://example.com/m"]
[model.attention]
heads = 8
kv_heads = 4
head_dim = 64
"""


def layout_twenty(work: Path) -> tuple[Path, Path, Path]:
    """A HOME with 20 GGUF files (~32 MiB each) across four stores, and a catalog pinning them."""
    home, src, mine = work / "home", work / "src", work / "mine"
    if home.exists():
        shutil.rmtree(home)
    shutil.rmtree(mine, ignore_errors=True)
    sources = []
    for seed in range(4):
        path = src / f"g{seed}.gguf"
        if not path.exists():
            make_tiny_gguf(
                path,
                arch="benchtiny",
                n_embd=512,
                n_head=8,
                n_head_kv=4,
                n_ff=2048,
                name="Bench",
                size_label="1B",
                seed=seed,
            )
        sources.append(path)
    hub = home / ".cache" / "huggingface" / "hub"
    for i in range(8):
        hf_snapshot(hub, f"bench/repo{i}-GGUF", f"{i:040d}", {f"b{i}.gguf": sources[i % 4]})
    for i in range(4):
        ollama_model(home / ".ollama" / "models", f"library/bench{i}:q", sources[i])
    for i in range(4):
        lmstudio_model(home / ".lmstudio" / "models", "bench", f"m{i}", sources[i], f"m{i}.gguf")
    for i in range(4):
        mine.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources[i], mine / f"own{i}.gguf")
    catalog = work / "catalog.toml"
    arts = "".join(
        f"""
[[artifact]]
model = "benchtiny-1b"
quantization = "F32"
repo = "bench/pinned{i}-GGUF"
revision = "{i:040d}"
source = "https://example.com/a"
files = [{{ name = "p{i}.gguf", size_bytes = {p.stat().st_size}, sha256 = "{sha256_file(p)}" }}]
"""
        for i, p in enumerate(sources)
    )
    catalog.write_text(CATALOG_HEAD + arts)
    return home, catalog, mine


def run_cli(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "selector", *args], capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(
            f"selector {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-1500:]}"
        )
    return elapsed


def bench_models(work: Path, runs: int) -> None:
    import compileall

    compileall.compile_dir(ROOT / "selector", quiet=1)
    home, catalog, mine = layout_twenty(work)
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    env.update(HOME=str(home), SELECTOR_CACHE_DIR=str(work / "selector-cache"))
    shutil.rmtree(work / "selector-cache", ignore_errors=True)
    args = ["models", "--format", "json", "--catalog", str(catalog), "--models-dir", str(mine)]
    first = run_cli(args, env)
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "selector", *args], capture_output=True, env=env, check=True
        ).stdout
    )
    verified = sum(w["hash"] == "verified" for w in listed)
    reruns, floor = [], []
    for _ in range(runs):
        reruns.append(run_cli(args, env))
        floor.append(run_cli(["--version"], env))
    m_re, m_floor = statistics.median(reruns), statistics.median(floor)
    print(f"selector models over {len(listed)} GGUF files ({verified} verified by sha256):")
    print(f"  first run (hashes every file)        {first:6.3f} s")
    print(f"  selector --version (CLI start)       median {m_floor:6.3f} s")
    print(
        f"  rerun (remembered hashes)            median {m_re:6.3f} s  (goal < 0.5 s); "
        f"{m_re - m_floor:+.3f} s over the CLI start; {runs} runs each, alternating"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--keep", type=Path, help="work directory to keep (and reuse)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="selector-hash-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        bench_hash(work, args.runs, args.size_mib)
        bench_models(work, args.runs)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
