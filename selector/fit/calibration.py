"""Per-machine efficiency factors for the speed projections, learned from smoke tests.

Stored as JSON in the user cache dir (`SELECTOR_CACHE_DIR` overrides it, for tests), keyed by
the hardware fingerprint and the target ("cpu" or "gpu"), written atomically.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import statistics
from pathlib import Path
from typing import Any

from selector.hardware import HardwareProfile
from selector.paths import cache_dir, write_atomic

# Defaults when nothing was measured on this machine. GPU decode: 0.55 of the memory
# bandwidth (the factor llmfit uses for llama.cpp). CPU decode: 0.5. Prefill: fraction of the
# GPU's dense FP16 throughput, or of the CPU's assumed FLOPS (speed.py).
DEFAULT_EFFICIENCY = {"gpu": 0.55, "cpu": 0.5}
DEFAULT_PREFILL_EFFICIENCY = {"gpu": 0.5, "cpu": 1.0}
MAX_SAMPLES = 20  # the factor is the median of the last MAX_SAMPLES samples
FILE_NAME = "fit-calibration.json"


def calibration_path() -> Path:
    return cache_dir() / FILE_NAME


def _key(hardware: HardwareProfile, target: str) -> str:
    return f"{hardware.fingerprint()}#{target}"


_loaded: dict[tuple[str, int], dict[str, Any]] = {}


def _load_all() -> dict[str, Any]:
    """The stored samples; read once per file version, since every fit estimate asks."""
    path = calibration_path()
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
        if stamp not in _loaded:
            data = json.loads(path.read_text(encoding="utf-8"))
            _loaded.clear()
            _loaded[stamp] = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
    return copy.deepcopy(_loaded[stamp])


def _write_all(data: dict[str, Any]) -> None:
    write_atomic(calibration_path(), json.dumps(data, indent=2, sort_keys=True))


def record_calibration(
    hardware: HardwareProfile,
    predicted_raw_tps: float,
    measured_tps: float,
    *,
    target: str = "cpu",
    kind: str = "decode",
    detail: str = "",
) -> float:
    """Store one (raw prediction, measurement) pair; return the updated factor.

    `predicted_raw_tps` is the projection with efficiency 1.0 (bandwidth / bytes per token for
    decode, FLOPS / FLOPs per token for prefill), so the factor is measured / raw.
    """
    if predicted_raw_tps <= 0 or measured_tps <= 0:
        raise ValueError("calibration needs positive predicted and measured speeds")
    data = _load_all()
    entry = data.setdefault(_key(hardware, target), {})
    samples = entry.setdefault(kind, [])
    samples.append(
        {
            "ratio": measured_tps / predicted_raw_tps,
            "predicted_raw_tps": predicted_raw_tps,
            "measured_tps": measured_tps,
            "detail": detail,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
    )
    del samples[:-MAX_SAMPLES]
    _write_all(data)
    return statistics.median(s["ratio"] for s in samples)


def load_efficiency(
    hardware: HardwareProfile, *, target: str = "cpu", kind: str = "decode"
) -> tuple[float, str]:
    """The efficiency factor to use and where it comes from (calibrated or default)."""
    samples = _load_all().get(_key(hardware, target), {}).get(kind, [])
    ratios = [s["ratio"] for s in samples if isinstance(s, dict) and s.get("ratio", 0) > 0]
    if ratios:
        factor = statistics.median(ratios)
        return factor, f"calibrated from {len(ratios)} smoke test(s) on this machine"
    defaults = DEFAULT_EFFICIENCY if kind == "decode" else DEFAULT_PREFILL_EFFICIENCY
    return defaults[target], "default; not calibrated"
