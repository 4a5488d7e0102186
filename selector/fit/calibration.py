"""Per-machine speed calibration learned from smoke tests: decode samples and prefill factors.

Stored as JSON in the user cache dir (`SELECTOR_CACHE_DIR` overrides it, for tests), keyed by
the hardware fingerprint and the target ("cpu" or "gpu"), written atomically. A file that
cannot be read or parsed counts as no calibration.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import statistics
from pathlib import Path
from typing import Any

from selector.fit.decode_model import DecodeModel, DecodeSample, fit_decode_model
from selector.hardware import HardwareProfile
from selector.paths import cache_dir, write_atomic

# Prefill: fraction of the GPU's dense FP16 throughput, or of the CPU's assumed FLOPS
# (speed.py), until smoke runs calibrate it (median of the last MAX_SAMPLES ratios).
DEFAULT_PREFILL_EFFICIENCY = {"gpu": 0.5, "cpu": 1.0}
MAX_SAMPLES = 20  # prefill ratios kept
MAX_DECODE_SAMPLES = 40  # decode samples kept (the fit wants several models)
DECODE_KEY = "decode_samples"
# Before the per-token overhead model, decode samples were bare ratios under "decode"; they
# cannot feed the fit (no bytes, layers or vocabulary), so they are ignored and dropped on the
# next write.
OLD_DECODE_KEY = "decode"
FILE_NAME = "fit-calibration.json"


def calibration_path() -> Path:
    return cache_dir() / FILE_NAME


def _key(hardware: HardwareProfile, target: str) -> str:
    return f"{hardware.fingerprint()}#{target}"


_loaded: dict[tuple[str, int], dict[str, Any]] = {}


def _load_all(*, for_update: bool = False) -> dict[str, Any]:
    """The stored samples; read once per file version, since every fit estimate asks.

    Readers share the cached dict; a caller that changes it asks for its own copy.
    """
    path = calibration_path()
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
        if stamp not in _loaded:
            data = json.loads(path.read_text(encoding="utf-8"))
            _loaded.clear()
            _loaded[stamp] = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
    return copy.deepcopy(_loaded[stamp]) if for_update else _loaded[stamp]


def _write_all(data: dict[str, Any]) -> None:
    write_atomic(calibration_path(), json.dumps(data, indent=2, sort_keys=True))


def _entry(data: dict[str, Any], hardware: HardwareProfile, target: str) -> dict[str, Any]:
    entry = data.get(_key(hardware, target))
    if not isinstance(entry, dict):
        entry = data[_key(hardware, target)] = {}
    return entry


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def decode_samples(hardware: HardwareProfile, target: str = "cpu") -> list[DecodeSample]:
    """The well-formed decode samples stored for this machine and target, oldest first."""
    raw = _load_all().get(_key(hardware, target), {})
    stored = raw.get(DECODE_KEY, []) if isinstance(raw, dict) else []
    samples = [DecodeSample.from_json(s) for s in stored] if isinstance(stored, list) else []
    return [s for s in samples if s is not None]


def record_decode_sample(
    hardware: HardwareProfile, sample: DecodeSample, *, target: str = "cpu"
) -> DecodeModel:
    """Store one measured decode run; return the model refitted with it."""
    if sample.measured_tps <= 0 or sample.bytes_per_token <= 0:
        raise ValueError("a decode sample needs positive bytes per token and speed")
    kept = decode_samples(hardware, target)
    if any(_same_run(sample, k) for k in kept):
        # the same measurement again (a result read back from the smoke cache, say): one run
        # is one sample, however often it is reported
        return load_decode_model(hardware, target=target, threads=sample.threads or None)
    if not sample.at:
        sample = DecodeSample(**{**sample.to_json(), "at": _now()})
    kept = [*kept, sample][-MAX_DECODE_SAMPLES:]
    data = _load_all(for_update=True)
    entry = _entry(data, hardware, target)
    entry.pop(OLD_DECODE_KEY, None)
    entry[DECODE_KEY] = [s.to_json() for s in kept]
    _write_all(data)
    return load_decode_model(hardware, target=target, threads=sample.threads or None)


def _same_run(a: DecodeSample, b: DecodeSample) -> bool:
    """Two samples of one measurement: every figure equal (timestamps aside)."""
    return {**a.to_json(), "at": ""} == {**b.to_json(), "at": ""}


def load_decode_model(
    hardware: HardwareProfile, *, target: str = "cpu", threads: int | None = None
) -> DecodeModel:
    """The decode model for this machine: fitted to its samples, or the defaults.

    Speed depends on the thread count, so only samples run with `threads` (default: the
    machine's physical cores, what llama.cpp and the smoke runner use) are fitted when there
    are any; otherwise all of them.
    """
    samples = decode_samples(hardware, target)
    wanted = threads or hardware.cpu_cores
    same = [s for s in samples if s.threads == wanted]
    return fit_decode_model(tuple(same or samples), target, hardware.cpu_cores)


def record_prefill_calibration(
    hardware: HardwareProfile,
    predicted_raw_tps: float,
    measured_tps: float,
    *,
    target: str = "cpu",
    detail: str = "",
) -> float:
    """Store one prefill (raw prediction, measurement) pair; return the updated factor.

    `predicted_raw_tps` is FLOPS / FLOPs per token at efficiency 1, so the factor is
    measured / raw.
    """
    if predicted_raw_tps <= 0 or measured_tps <= 0:
        raise ValueError("calibration needs positive predicted and measured speeds")
    data = _load_all(for_update=True)
    entry = _entry(data, hardware, target)
    samples = entry.get("prefill")
    if not isinstance(samples, list):
        samples = entry["prefill"] = []
    samples.append(
        {
            "ratio": measured_tps / predicted_raw_tps,
            "predicted_raw_tps": predicted_raw_tps,
            "measured_tps": measured_tps,
            "detail": detail,
            "at": _now(),
        }
    )
    del samples[:-MAX_SAMPLES]
    _write_all(data)
    return load_efficiency(hardware, target=target, kind="prefill")[0]


def _ratios(samples: Any) -> list[float]:
    if not isinstance(samples, list):
        return []
    out = []
    for s in samples:
        ratio = s.get("ratio") if isinstance(s, dict) else None
        if isinstance(ratio, int | float) and ratio > 0:
            out.append(float(ratio))
    return out


def load_efficiency(
    hardware: HardwareProfile, *, target: str = "cpu", kind: str = "decode"
) -> tuple[float, str]:
    """The efficiency factor to use and where it comes from (calibrated or default).

    For decode this is the bandwidth efficiency of `load_decode_model`, whose per-token
    overhead comes on top.
    """
    if kind == "decode":
        model = load_decode_model(hardware, target=target)
        return model.efficiency, model.source
    entry = _load_all().get(_key(hardware, target), {})
    ratios = _ratios(entry.get(kind) if isinstance(entry, dict) else None)
    if ratios:
        factor = statistics.median(ratios)
        return factor, f"calibrated from {len(ratios)} smoke test(s) on this machine"
    return DEFAULT_PREFILL_EFFICIENCY[target], "default; not calibrated"
