"""Where a model goes: all on the GPU(s), split between GPU and CPU, CPU only, or nowhere."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from selector.fit.memory import GIB, MemoryBreakdown, ModelShape
from selector.hardware import HardwareProfile

PlacementKind = Literal["gpu", "split", "cpu", "none"]

# VRAM kept free per GPU: the CUDA/ROCm context and driver reservations (~0.3-0.5 GiB)
# plus allocator fragmentation; llama.cpp's own `--fit` keeps a 1 GiB margin per device
# (common/fit.cpp), this keeps 0.5 GiB + 5%.
GPU_HEADROOM_GIB = 0.5
GPU_HEADROOM_FRACTION = 0.05
# Unified memory (Apple): Metal lets one process wire about 75% of it by default.
UNIFIED_USABLE_FRACTION = 0.75
# RAM kept for the operating system and everything else: 10%, at least 1 GiB.
RAM_HEADROOM_FRACTION = 0.10
RAM_HEADROOM_MIN_GIB = 1.0


@dataclass(frozen=True)
class Placement:
    """Bytes on each side and the bytes each side reads per generated token."""

    kind: PlacementKind
    gpu_bytes: float
    cpu_bytes: float
    gpu_read_per_token: float
    cpu_read_per_token: float
    gpu_layers: int
    note: str = ""

    @property
    def fits(self) -> bool:
        return self.kind != "none"


def usable_vram_bytes(hardware: HardwareProfile) -> float:
    total = 0.0
    for slot in hardware.gpus:
        if slot.unified_memory:
            total += slot.vram_gb * UNIFIED_USABLE_FRACTION * slot.count
        else:
            per = slot.vram_gb * (1 - GPU_HEADROOM_FRACTION) - GPU_HEADROOM_GIB
            total += max(per, 0.0) * slot.count
    return total * GIB


def usable_ram_bytes(hardware: HardwareProfile) -> float:
    headroom = max(hardware.ram_gb * RAM_HEADROOM_FRACTION, RAM_HEADROOM_MIN_GIB)
    return max(hardware.ram_gb - headroom, 0.0) * GIB


def place(
    shape: ModelShape,
    mem: MemoryBreakdown,
    layer_phase_compute: float,
    decode_read: float,
    hardware: HardwareProfile,
) -> Placement:
    """First of gpu, split, cpu that fits; `none` with the CPU figures otherwise.

    GPU: weights (the input embedding stays in host RAM, as llama.cpp keeps it), KV cache and
    the reserved compute buffer must fit the usable VRAM. Split: whole layers (weights + their
    KV) are offloaded while they fit beside the GPU's compute buffer; the rest, the output head
    and a host compute buffer stay in RAM. CPU: the resident peak must fit the usable RAM.
    """
    vram = usable_vram_bytes(hardware)
    ram = usable_ram_bytes(hardware)
    unified = bool(hardware.gpus) and all(g.unified_memory for g in hardware.gpus)
    host_embed = 0.0 if shape.tied_embeddings else shape.embedding_bytes
    gpu_need = mem.weights - host_embed + mem.kv_cache + mem.compute_reserved
    host_need = mem.overhead + host_embed
    # ram_gb 0 = not declared: the host's share (process, input embedding) is not a constraint
    host_ok = unified or not hardware.ram_gb or host_need <= ram
    if hardware.gpus and gpu_need <= vram and host_ok:
        return Placement("gpu", gpu_need, host_need, decode_read, 0.0, shape.n_layers + 1)

    if hardware.gpus and not unified:
        body = max(mem.weights - host_embed - _output_bytes(shape), 0.0)
        per_layer = (body + mem.kv_cache) / shape.n_layers
        room = vram - layer_phase_compute
        n_gpu = min(shape.n_layers, max(0, math.floor(room / per_layer))) if per_layer > 0 else 0
        if n_gpu >= 1:
            gpu_bytes = layer_phase_compute + n_gpu * per_layer
            cpu_bytes = (
                (shape.n_layers - n_gpu) * per_layer
                + _output_bytes(shape)
                + host_embed
                + mem.compute_reserved
                + mem.overhead
            )
            if cpu_bytes <= ram:
                share = n_gpu / shape.n_layers
                out_read = _output_bytes(shape)
                body_read = max(decode_read - out_read, 0.0)
                return Placement(
                    "split",
                    gpu_bytes,
                    cpu_bytes,
                    body_read * share,
                    body_read * (1 - share) + out_read,
                    n_gpu,
                    f"{n_gpu} of {shape.n_layers} layers on the GPU",
                )

    if mem.resident <= ram:
        return Placement("cpu", 0.0, mem.resident, 0.0, decode_read, 0)
    return Placement("none", 0.0, mem.resident, 0.0, decode_read, 0, "fits neither VRAM nor RAM")


def _output_bytes(shape: ModelShape) -> float:
    """Bytes of the output head (the embedding matrix again when tied)."""
    if not shape.embedding_bytes:
        return 0.0
    return shape.embedding_bytes * (shape.output_params / max(shape.embedding_params, 1.0))
