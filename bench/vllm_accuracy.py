"""How close selector's vLLM/SGLang accounting comes to what vLLM printed at start-up.

Reads bench/data/vllm_logs.toml (real start-up logs from public issues, each with its URL),
predicts every printed figure with selector.fit.serving for the same model, GPU, TP/PP,
precision, max_model_len, utilization and engine defaults, and prints the signed error.

Goal (issue 12): weights within 3%; KV token capacity and max concurrency within 10%.
KV memory in GiB is printed for reference (its error in GiB is what the token error comes
from). No GPU is needed.

    .venv/bin/python bench/vllm_accuracy.py [--data bench/data/vllm_logs.toml]
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selector.catalog import load_catalog  # noqa: E402
from selector.fit import serving  # noqa: E402
from selector.fit.deploy import CUDA_RESERVED_GIB  # noqa: E402

GIB = 2**30
GOALS = {"weights_gib": 0.03, "kv_tokens": 0.10, "max_concurrency": 0.10, "kv_needed_gib": 0.10}


@dataclass
class Row:
    log: str
    metric: str
    printed: float
    predicted: float
    goal: float | None

    @property
    def error(self) -> float:
        if self.printed == 0:
            return math.inf
        return (self.predicted - self.printed) / abs(self.printed)

    @property
    def within(self) -> bool | None:
        return None if self.goal is None else abs(self.error) <= self.goal


def model_for(log: dict[str, Any], catalog: Any) -> serving.ServingModel:
    cfg = log.get("config")
    if cfg is None:
        return serving.serving_model(catalog.models[log["model"]])
    return serving.ServingModel(
        name=log["model"],
        params=float(cfg["params"]),
        active_params=float(cfg.get("active_params", cfg["params"])),
        layers=cfg["layers"],
        hidden=cfg["hidden"],
        vocab=cfg["vocab"],
        heads=cfg["heads"],
        kv_heads=cfg["kv_heads"],
        head_dim=cfg["head_dim"],
        global_layers=cfg["layers"],
        mla_kv_dim=cfg.get("mla_kv_dim"),
        experts=cfg.get("experts", 0),
        experts_per_token=cfg.get("experts_per_token", 0),
        tied_embeddings=cfg.get("tied_embeddings", False),
    )


def gpu_total(log: dict[str, Any], catalog: Any) -> float:
    if "gpu_total_gib" in log:
        return float(log["gpu_total_gib"])
    gpu = catalog.find_gpu(log["gpu"])
    return (gpu.vram_gb if gpu else 24.0) - CUDA_RESERVED_GIB


def predict(log: dict[str, Any], catalog: Any) -> list[Row]:
    m = model_for(log, catalog)
    printed = log["printed"]
    settings = serving.ServingSettings(
        engine=log.get("engine", "vllm"),
        precision=log["precision"],
        tensor_parallel=log.get("tensor_parallel", 1),
        pipeline_parallel=log.get("pipeline_parallel", 1),
        gpu_memory_utilization=log["gpu_memory_utilization"],
        max_model_len=log["max_model_len"],
        max_num_batched_tokens=log.get("max_num_batched_tokens"),
        max_num_seqs=log.get("max_num_seqs"),
        cuda_graphs_in_budget=log.get("cuda_graphs_in_budget", False),
        v0_engine=str(log.get("engine_version", "")).startswith("V0"),
    )
    total = gpu_total(log, catalog) if not log.get("kv_from_printed") else 80.0
    est = serving.estimate_serving(m, total, settings, log.get("gpu", ""))
    rows = []
    name = log["id"]
    if "weights_gib" in printed:
        rows.append(Row(name, "weights_gib", printed["weights_gib"], est.weights / GIB, 0.03))
    kv_memory = est.kv_memory
    if log.get("kv_from_printed") and "kv_cache_gib" in printed:
        kv_memory = printed["kv_cache_gib"] * GIB  # the GPU is unknown: check tokens from it
    elif "kv_cache_gib" in printed:
        rows.append(Row(name, "kv_cache_gib", printed["kv_cache_gib"], kv_memory / GIB, None))
    if settings.engine == "sglang":
        capacity = est.capacity
    else:
        layout = serving.kv_layout(m, settings.tensor_parallel, settings.pipeline_parallel)
        default_batched, _ = serving.vllm_batch_defaults(total, log.get("gpu", ""))
        capacity = serving.vllm_kv_capacity(
            layout,
            kv_memory,
            settings.max_model_len,
            sliding_window=m.sliding_window,
            max_num_batched_tokens=settings.max_num_batched_tokens or default_batched,
        )
    if "kv_tokens" in printed:
        rows.append(Row(name, "kv_tokens", printed["kv_tokens"], capacity.tokens, 0.10))
    if "max_concurrency" in printed:
        rows.append(
            Row(name, "max_concurrency", printed["max_concurrency"], capacity.max_concurrency, 0.10)
        )
    if "kv_needed_gib" in printed:
        needed = est.kv_bytes_per_token * settings.max_model_len / GIB
        rows.append(Row(name, "kv_needed_gib", printed["kv_needed_gib"], needed, 0.10))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "vllm_logs.toml")
    args = parser.parse_args()
    logs = tomllib.loads(args.data.read_text(encoding="utf-8"))["log"]
    catalog = load_catalog()
    rows: list[Row] = []
    print(f"{'log':<48} {'metric':<16} {'printed':>12} {'predicted':>12} {'error':>8}  goal")
    for log in logs:
        for row in predict(log, catalog):
            rows.append(row)
            verdict = {True: "ok", False: "MISS", None: "-"}[row.within]
            print(
                f"{row.log[:48]:<48} {row.metric:<16} {row.printed:>12,.2f} "
                f"{row.predicted:>12,.2f} {row.error:>+8.1%}  {verdict}"
            )
    print()
    for metric, goal in GOALS.items():
        judged = [r for r in rows if r.metric == metric]
        if not judged:
            continue
        ok = sum(1 for r in judged if r.within)
        worst = max(judged, key=lambda r: abs(r.error))
        print(
            f"{metric}: {ok}/{len(judged)} within ±{goal:.0%}; worst {worst.error:+.1%} "
            f"({worst.log})"
        )
    logs_ok = sum(
        1 for log in logs if all(r.within is not False for r in rows if r.log == log["id"])
    )
    print(f"logs with every judged figure within goal: {logs_ok}/{len(logs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
