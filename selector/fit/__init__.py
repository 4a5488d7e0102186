"""Fit of a model on hardware: memory, placement, disk size and speed estimates.

See docs/fit.md for every formula and its source in the llama.cpp code.
"""

from __future__ import annotations

from selector.fit.calibration import (
    load_decode_model,
    load_efficiency,
    record_decode_sample,
    record_prefill_calibration,
)
from selector.fit.decode_model import DecodeModel, DecodeSample, fit_decode_model
from selector.fit.estimate import Fit, disk_size_gb, estimate_fit, fit_from_shape
from selector.fit.memory import RuntimeSettings
from selector.fit.quant import QUANTIZATIONS, normalize_quant
from selector.fit.smoke_link import calibrate_from_smoke, predict_smoke

__all__ = [
    "QUANTIZATIONS",
    "DecodeModel",
    "DecodeSample",
    "Fit",
    "RuntimeSettings",
    "calibrate_from_smoke",
    "disk_size_gb",
    "estimate_fit",
    "fit_decode_model",
    "fit_from_shape",
    "load_decode_model",
    "load_efficiency",
    "normalize_quant",
    "predict_smoke",
    "record_decode_sample",
    "record_prefill_calibration",
]
