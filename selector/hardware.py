"""What the deployment runs on: declared in `[hardware]`, or detected on this machine."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from selector.catalog import GPU, Catalog
    from selector.requirements import HardwareSpec

GIB = 2**30  # every *_gb figure in selector is GiB, as nvidia-smi and llama.cpp count


class GPUSlot(BaseModel):
    """A group of identical GPUs (the report's `hardware.gpus[]`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    model: str
    vram_gb: float = Field(gt=0)
    count: int = Field(1, gt=0)
    bandwidth_gb_s: float | None = Field(None, gt=0)
    fp16_tflops: float | None = Field(None, gt=0)
    free_vram_gb: float | None = None
    catalog_id: str | None = None
    unified_memory: bool = False
    vendor: str | None = Field(None, description="NVIDIA, AMD or Apple, when known")
    segment: str | None = Field(
        None, description="the catalog's segment: datacenter, workstation, consumer or apple"
    )


class HardwareProfile(BaseModel):
    """Memory and speed the fit and ranking stages plan against."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    source: Literal["declared", "detected"]
    ram_gb: float = Field(ge=0, description="0 when not declared: no CPU offload is planned")
    ram_available_gb: float | None = None
    cpu_model: str = ""
    cpu_cores: int | None = None
    cpu_threads: int | None = None
    ram_bandwidth_gb_s: float | None = Field(
        None, description="system memory bandwidth assumed for CPU decode estimates"
    )
    gpus: list[GPUSlot] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def total_vram_gb(self) -> float:
        return sum(g.vram_gb * g.count for g in self.gpus)

    @property
    def gpu_count(self) -> int:
        return sum(g.count for g in self.gpus)

    def fingerprint(self) -> str:
        """Stable identity of the machine for the smoke cache (not of its free memory)."""
        gpus = ",".join(f"{g.count}x{g.model}" for g in self.gpus)
        return f"{self.cpu_model}|{self.cpu_cores}|{round(self.ram_gb)}|{gpus}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform  # detection only: a run on declared hardware never needs it

    return platform.processor() or platform.machine()


def detect_nvidia_gpus(timeout_s: float = 10.0) -> tuple[list[GPUSlot], str | None]:
    """GPUs from `nvidia-smi`, grouped by name; the second item says why none were read."""
    import shutil
    import subprocess  # detection only, like platform above

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "nvidia-smi not found"
    query = "--query-gpu=name,memory.total,memory.free"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return [], f"nvidia-smi failed: {exc}"
    return parse_nvidia_smi(out), None


def parse_nvidia_smi(csv_text: str) -> list[GPUSlot]:
    """Parse `name, total MiB, free MiB` rows into slots of identical GPUs."""
    slots: dict[str, GPUSlot] = {}
    for row in csv_text.strip().splitlines():
        parts = [p.strip() for p in row.split(",")]
        if len(parts) < 3:
            continue
        name, total, free = parts[0], parts[1], parts[2]
        try:
            total_gb, free_gb = float(total) / 1024, float(free) / 1024
        except ValueError:
            continue
        if name in slots:
            slot = slots[name]
            slot.count += 1
            slot.free_vram_gb = (slot.free_vram_gb or 0) + free_gb
        else:
            slots[name] = GPUSlot(
                model=name, vram_gb=round(total_gb, 1), count=1, free_vram_gb=free_gb
            )
    for slot in slots.values():
        slot.free_vram_gb = round(slot.free_vram_gb or 0, 1)
    return list(slots.values())


def detect_gpus() -> tuple[list[GPUSlot], list[str]]:
    """GPUs from nvidia-smi, else amd-smi / rocm-smi, else Apple silicon; and why none were read."""
    from selector.hardware_vendors import detect_amd_gpus, detect_apple_silicon

    gpus, why_nvidia = detect_nvidia_gpus()
    for slot in gpus:
        slot.vendor = "NVIDIA"
    if gpus:
        return gpus, []
    gpus, why_amd = detect_amd_gpus()
    if gpus:
        return gpus, []
    apple, why_apple = detect_apple_silicon()
    if apple is not None:
        return [apple], []
    return [], [f"no GPU found ({'; '.join(w for w in (why_nvidia, why_amd, why_apple) if w)})"]


def detect_hardware() -> HardwareProfile:
    """This machine as psutil and nvidia-smi / amd-smi / sysctl see it; GPUs enriched later."""
    import psutil

    mem = psutil.virtual_memory()
    gpus, notes = detect_gpus()
    return HardwareProfile(
        source="detected",
        ram_gb=round(mem.total / GIB, 1),
        ram_available_gb=round(mem.available / GIB, 1),
        cpu_model=_cpu_model(),
        cpu_cores=psutil.cpu_count(logical=False) or os.cpu_count(),
        cpu_threads=psutil.cpu_count(logical=True),
        gpus=gpus,
        notes=notes,
    )


@functools.cache
def _this_machine() -> HardwareProfile:
    return detect_hardware()


def this_machine() -> HardwareProfile:
    """This machine, detected once per process (nvidia-smi and psutil are not free).

    A copy each call: callers enrich or annotate what they get.
    """
    return _this_machine().model_copy(deep=True)


def resolve_hardware(spec: HardwareSpec, catalog: Catalog) -> HardwareProfile:
    """Declared hardware with GPU figures from the catalog, or this machine when not declared."""
    if not spec.declared:
        return enrich_detected(this_machine(), catalog)
    slots = []
    notes = []
    for req in spec.gpus:
        gpu = catalog.find_gpu(req.model) if req.model else None
        slots.append(
            GPUSlot(
                model=gpu.model if gpu else (req.model or f"{req.vram_gb:g} GB GPU"),
                vram_gb=req.vram_gb or (gpu.vram_gb if gpu else 0),
                count=req.count,
                bandwidth_gb_s=req.bandwidth_gb_s or (gpu.bandwidth_gb_s if gpu else None),
                fp16_tflops=gpu.fp16_tflops if gpu else None,
                catalog_id=gpu.id if gpu else None,
                unified_memory=gpu.unified_memory if gpu else False,
                vendor=gpu.vendor if gpu else None,
                segment=gpu.segment if gpu else None,
            )
        )
        if gpu is None:
            notes.append(f"GPU {slots[-1].model!r} is not in the catalog: no bandwidth figure")
        elif req.model and (note := variant_note(req.model, gpu, catalog)):
            notes.append(note)
    if spec.ram_gb is None:
        notes.append("ram_gb not declared: no CPU offload is planned")
    return HardwareProfile(
        source="declared",
        ram_gb=spec.ram_gb or 0.0,
        cpu_cores=spec.cpu_cores,
        ram_bandwidth_gb_s=spec.ram_bandwidth_gb_s,
        gpus=slots,
        notes=notes,
    )


def variant_note(name: str, gpu: GPU, catalog: Catalog) -> str | None:
    """Say which variant a bare family name (`A100`, `H100`) was read as, when there are several."""
    from selector.catalog.loader import normalize_gpu_name

    wanted = normalize_gpu_name(name)
    if wanted in (normalize_gpu_name(gpu.model), normalize_gpu_name(gpu.id)):
        return None
    others = [
        g.model
        for g in catalog.gpus.values()
        if g.id != gpu.id and normalize_gpu_name(g.model).startswith(wanted)
    ]
    if not others:
        return None
    return (
        f"GPU {name!r} read as {gpu.model} ({gpu.vram_gb:g} GB, {gpu.bandwidth_gb_s:g} GB/s); "
        f"other variants: {', '.join(sorted(others))} — name one, or give vram_gb"
    )


def enrich_detected(profile: HardwareProfile, catalog: Catalog) -> HardwareProfile:
    """Add bandwidth and throughput to detected GPUs whose name the catalog knows."""
    for slot in profile.gpus:
        gpu = (
            catalog.find_gpu(slot.model)
            or catalog.find_gpu(slot.model.replace("NVIDIA", ""))
            or catalog.find_gpu(slot.model.replace("AMD", ""))
        )
        if gpu is not None:
            slot.bandwidth_gb_s = gpu.bandwidth_gb_s
            slot.fp16_tflops = gpu.fp16_tflops
            slot.catalog_id = gpu.id
            slot.vendor = slot.vendor or gpu.vendor
            slot.segment = gpu.segment
        else:
            profile.notes.append(f"GPU {slot.model!r} is not in the catalog: no bandwidth figure")
    return profile
