"""Small hand-made catalogs for the decision-support tests: every figure chosen, none real."""

from __future__ import annotations

from typing import Any

from selector.catalog import GPU, Catalog, License, ModelEntry
from selector.hardware import HardwareProfile, resolve_hardware
from selector.requirements import Requirements

URL = "https://example.com/source"

LICENSES = {
    # attribution only: license term 1 - 0.05 = 0.95
    "permissive": {"spdx": "Apache-2.0", "commercial_use": True, "clauses": ["attribution"]},
    # revenue cap + acceptable-use policy: 1 - 0.3 - 0.15 = 0.55
    "restricted": {
        "spdx": "LicenseRef-Restricted",
        "commercial_use": True,
        "clauses": ["revenue-cap", "acceptable-use-policy"],
    },
    "mau": {"spdx": None, "commercial_use": True, "clauses": ["mau-cap"]},
    "research": {"spdx": None, "commercial_use": False, "clauses": []},
}


def license_entry(lic_id: str) -> License:
    spec = LICENSES[lic_id]
    return License.model_validate(
        {
            "id": lic_id,
            "name": f"{lic_id.title()} License",
            "spdx": spec["spdx"],
            "osi_approved": False,
            "commercial_use": spec["commercial_use"],
            "clauses": [
                {"kind": k, "detail": f"a {k} clause", "threshold": "1" if "cap" in k else ""}
                for k in spec["clauses"]
            ],
            "url": URL,
            "sources": [URL],
        }
    )


def model_entry(
    model_id: str,
    params_b: float,
    *,
    license: str = "permissive",
    quality: float | None = None,
    **fields: Any,
) -> ModelEntry:
    """A dense model shaped like a Llama (32 heads, 8 KV heads of 128); `quality` is given as
    equal MMLU-Pro and GPQA-Diamond scores, so the quality term is exactly quality / 100."""
    data: dict[str, Any] = {
        "id": model_id,
        "name": model_id.upper(),
        "family": "test",
        "organization": "Example Lab",
        "origin_country": "FR",
        "release_date": "2025-01-15",
        "params_b": params_b,
        "architecture": "dense",
        "layers": 32,
        "context_tokens": 32768,
        "license": license,
        "runtimes": ["llama.cpp"],
        "attention": {"heads": 32, "kv_heads": 8, "head_dim": 128},
        "sources": [URL],
    }
    if quality is not None:
        data["benchmarks"] = [
            {"name": b, "score": quality, "source": URL} for b in ("MMLU-Pro", "GPQA-Diamond")
        ]
    data.update(fields)
    return ModelEntry.model_validate(data)


def gpu_entry(gpu_id: str, vram_gb: float, bandwidth_gb_s: float) -> GPU:
    return GPU.model_validate(
        {
            "id": gpu_id,
            "model": gpu_id.upper(),
            "vendor": "Example",
            "segment": "datacenter",
            "vram_gb": vram_gb,
            "bandwidth_gb_s": bandwidth_gb_s,
            "fp16_tflops": 300,
            "sources": [URL],
        }
    )


def catalog(*models: ModelEntry) -> Catalog:
    return Catalog(
        models={m.id: m for m in models},
        licenses={k: license_entry(k) for k in LICENSES},
        gpus={g.id: g for g in (gpu_entry("card-48", 48, 864), gpu_entry("card-80", 80, 2000))},
    )


def requirements(data: dict[str, Any], *, auto_quantization: bool = False) -> Requirements:
    """Requirements with smoke tests off unless the test turns them on.

    The quantization is fixed at Q4_K_M unless the test says otherwise or asks for "auto": the
    hand-worked figures assume one preset, while "auto" walks the ladder itself (and has its own
    tests).
    """
    size = {} if auto_quantization else {"quantization": "Q4_K_M"}
    data = {
        **data,
        "size": {**size, **data.get("size", {})},
        "smoke": {"enabled": False, **data.get("smoke", {})},
    }
    return Requirements.model_validate(data)


def hardware(req: Requirements, cat: Catalog) -> HardwareProfile:
    return resolve_hardware(req.hardware, cat)


def toml_catalog(*models: ModelEntry) -> str:
    """The same catalog as TOML, for tests that drive the CLI with --replace-catalog."""
    import json

    def value(v: Any) -> str:
        return json.dumps(v)

    out = []
    for lic_id in LICENSES:
        lic = license_entry(lic_id).model_dump(mode="json", exclude_none=True)
        clauses = lic.pop("clauses")
        out.append("[[license]]")
        out += [f"{k} = {value(v)}" for k, v in lic.items() if v not in ("", [])]
        for c in clauses:
            out.append("[[license.clauses]]")
            out += [f"{k} = {value(v)}" for k, v in c.items() if v != ""]
    for g in catalog().gpus.values():
        out.append("[[gpu]]")
        data = g.model_dump(mode="json", exclude_none=True)
        out += [f"{k} = {value(v)}" for k, v in data.items() if v not in ("", [], False)]
    for m in models:
        data = m.model_dump(mode="json", exclude_none=True)
        attention = data.pop("attention")
        benchmarks = data.pop("benchmarks")
        out.append("[[model]]")
        for k, v in data.items():
            if v in ("", [], None):
                continue
            out.append(f"{k} = {v}" if k == "release_date" else f"{k} = {value(v)}")
        out.append("[model.attention]")
        out += [f"{k} = {value(v)}" for k, v in attention.items() if v not in (0, False)]
        for b in benchmarks:
            out.append("[[model.benchmarks]]")
            out += [f"{k} = {value(v)}" for k, v in b.items() if v != ""]
    return "\n".join(out) + "\n"
