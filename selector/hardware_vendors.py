"""GPUs beyond NVIDIA: AMD (amd-smi, rocm-smi) and Apple silicon (sysctl, system_profiler).

Each tool's output is parsed by a pure function, tested on outputs users recorded
(tests/data/hardware/, each with its URL); the `detect_*` functions only run the tool.
Output that does not parse is "no GPU found", with the reason, never an exception.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
from typing import Any

from selector.hardware import GIB, GPUSlot

_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2}
# amd-smi's "MB" are MiB: a 16 GiB RX 7800 XT prints 16368 MB (16384 MiB less a reserved 16),
# tests/data/hardware/amd-smi-static-rx7800xt.json; decimal MB would make it 15.2 GiB.
_AMD_SMI_MB = 1024**2


def _run(args: list[str], timeout_s: float = 10.0) -> tuple[str | None, str | None]:
    """stdout of a command, or None and why not."""
    exe = shutil.which(args[0])
    if exe is None:
        return None, f"{args[0]} not found"
    try:
        done = subprocess.run(
            [exe, *args[1:]], capture_output=True, text=True, timeout=timeout_s, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{args[0]} failed: {exc}"
    return done.stdout, None


def _group(slots: list[GPUSlot]) -> list[GPUSlot]:
    """Identical GPUs as one slot with a count, in the order first seen."""
    grouped: dict[tuple[str, float], GPUSlot] = {}
    for slot in slots:
        key = (slot.model, slot.vram_gb)
        if key in grouped:
            grouped[key].count += 1
        else:
            grouped[key] = slot
    return list(grouped.values())


# ---------------------------------------------------------------- AMD


def parse_rocm_smi_json(text: str) -> list[GPUSlot]:
    """`rocm-smi --showproductname --showmeminfo vram --json`: {"card0": {...}, ...}.

    The name is "Card Series" (spelled "Card series" by older versions), the size
    "VRAM Total Memory (B)" in bytes. Cards without a size are skipped.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    if not isinstance(data, dict):
        return []
    slots = []
    for card, info in data.items():
        if not str(card).startswith("card") or not isinstance(info, dict):
            continue
        fields = {str(k).lower(): v for k, v in info.items()}
        name = fields.get("card series") or fields.get("device name") or fields.get("card model")
        total = fields.get("vram total memory (b)")
        used = fields.get("vram total used memory (b)")
        try:
            total_gb = int(str(total)) / GIB
        except ValueError:
            continue
        free_gb = None
        if used is not None and str(used).isdigit():
            free_gb = round(total_gb - int(str(used)) / GIB, 1)
        slots.append(
            GPUSlot(
                model=str(name or card).strip(),
                vram_gb=round(total_gb, 1),
                free_vram_gb=free_gb,
                vendor="AMD",
            )
        )
    return _group(slots)


def _amd_smi_size(value: Any) -> float | None:
    """A size as amd-smi prints it: {"value": 196592, "unit": "MB"} or "196592 MB"; GiB."""
    number: Any
    if isinstance(value, dict):
        number, unit = value.get("value"), str(value.get("unit", "MB"))
    elif isinstance(value, str):
        parts = value.split()
        number, unit = (parts[0], parts[1]) if len(parts) == 2 else (value, "MB")
    else:
        number, unit = value, "MB"
    try:
        amount = float(number)
    except (TypeError, ValueError):
        return None
    scale = _AMD_SMI_MB if unit.upper() == "MB" else _UNITS.get(unit.upper())
    return None if scale is None else amount * scale / GIB


def parse_amd_smi_json(text: str) -> list[GPUSlot]:
    """`amd-smi static --asic --vram --json`: a list of GPUs, or {"gpu_data": [...]} (ROCm 7)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    if isinstance(data, dict):
        data = data.get("gpu_data", [])
    if not isinstance(data, list):
        return []
    slots = []
    for gpu in data:
        if not isinstance(gpu, dict):
            continue
        asic_raw, vram_raw = gpu.get("asic"), gpu.get("vram")
        asic: dict[str, Any] = asic_raw if isinstance(asic_raw, dict) else {}
        vram: dict[str, Any] = vram_raw if isinstance(vram_raw, dict) else {}
        name = str(asic.get("market_name") or "").strip()
        size = _amd_smi_size(vram.get("size", vram.get("vram_size")))
        if not name or name == "N/A" or size is None:
            continue
        slots.append(GPUSlot(model=name, vram_gb=round(size, 1), vendor="AMD"))
    return _group(slots)


def detect_amd_gpus() -> tuple[list[GPUSlot], str | None]:
    """AMD GPUs from amd-smi (ROCm 6+), else rocm-smi; the second item says why none."""
    out, why_amd_smi = _run(["amd-smi", "static", "--asic", "--vram", "--json"])
    if out is not None:
        slots = parse_amd_smi_json(out)
        if slots:
            return slots, None
        why_amd_smi = "amd-smi printed no GPU with a memory size"
    out, why_rocm = _run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
    if out is not None:
        slots = parse_rocm_smi_json(out)
        if slots:
            return slots, None
        why_rocm = "rocm-smi printed no GPU with a memory size"
    return [], f"{why_amd_smi}; {why_rocm}"


# ---------------------------------------------------------------- Apple silicon


def parse_sysctl(text: str) -> dict[str, str]:
    """`sysctl name ...` lines ("key: value") as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(GB|TB)", re.IGNORECASE)


def _memory_gb(text: str) -> float | None:
    match = _MEMORY.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    return value * 1024 if match.group(2).upper() == "TB" else value


def parse_system_profiler(text: str) -> dict[str, Any]:
    """`system_profiler SPHardwareDataType` (-json, or the text form): chip, memory GB, cores."""
    chip = memory = cores = None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        items = data.get("SPHardwareDataType") or [{}]
        item = items[0] if isinstance(items, list) and isinstance(items[0], dict) else {}
        chip = item.get("chip_type")
        memory = _memory_gb(str(item.get("physical_memory", "")))
        procs = str(item.get("number_processors", ""))  # "proc 16:12:4": total:perf:efficiency
        if procs.startswith("proc "):
            cores = int(procs.split()[1].split(":")[0])
    else:
        for line in text.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "Chip":
                chip = value.strip()
            elif key == "Memory":
                memory = _memory_gb(value)
            elif key == "Total Number of Cores":
                cores = int(value.split()[0]) if value.split() else None
    return {"chip": chip, "memory_gb": memory, "cores": cores}


def apple_slot(chip: str, memory_gb: float) -> GPUSlot:
    """The unified-memory GPU of an Apple chip, sized by the machine's memory."""
    return GPUSlot(
        model=chip,
        vram_gb=memory_gb,
        unified_memory=True,
        vendor="Apple",
        segment="apple",
    )


def detect_apple_silicon() -> tuple[GPUSlot | None, str | None]:
    """This Mac's chip and unified memory (sysctl, else system_profiler); why not otherwise."""
    if platform.system() != "Darwin" or platform.machine() != "arm64":
        return None, "not an Apple silicon Mac"
    out, why = _run(["sysctl", "machdep.cpu.brand_string", "hw.memsize"])
    if out is not None:
        values = parse_sysctl(out)
        chip = values.get("machdep.cpu.brand_string", "")
        memsize = values.get("hw.memsize", "")
        if chip.startswith("Apple") and memsize.isdigit():
            return apple_slot(chip, round(int(memsize) / GIB, 1)), None
    out, why_profiler = _run(["system_profiler", "SPHardwareDataType", "-json"], 30.0)
    if out is not None:
        info = parse_system_profiler(out)
        if info["chip"] and info["memory_gb"]:
            return apple_slot(str(info["chip"]), float(info["memory_gb"])), None
    return None, f"{why or 'sysctl printed no Apple chip'}; {why_profiler or 'no chip'}"
