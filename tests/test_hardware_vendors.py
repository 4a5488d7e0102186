"""AMD and Apple GPU detection, parsed from recorded tool outputs (tests/data/hardware)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selector import hardware_vendors as hv
from selector.catalog import load_catalog
from selector.hardware import GIB, HardwareProfile, enrich_detected

DATA = Path(__file__).parent / "data" / "hardware"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_every_recorded_output_names_its_source() -> None:
    sources = read("SOURCES.md")
    for path in DATA.iterdir():
        if path.name != "SOURCES.md":
            assert f"`{path.name}`" in sources, path.name


def test_rocm_smi_json_gives_name_and_total_memory() -> None:
    [slot] = hv.parse_rocm_smi_json(read("rocm-smi-rx7900xt.json"))
    assert slot.model == "Radeon RX 7900 XT"
    assert slot.vram_gb == round(21_458_059_264 / GIB, 1)
    assert slot.free_vram_gb == pytest.approx((21_458_059_264 - 27_856_896) / GIB, abs=0.1)
    assert slot.vendor == "AMD" and slot.count == 1


def test_amd_smi_json_gpu_data_and_mib_sizes() -> None:
    [slot] = hv.parse_amd_smi_json(read("amd-smi-static-rx7800xt.json"))
    assert slot.model == "AMD Radeon RX 7800 XT"
    assert slot.vram_gb == pytest.approx(16368 / 1024, abs=0.05)  # amd-smi "MB" are MiB


def test_amd_smi_older_list_form_and_identical_gpus_are_grouped() -> None:
    gpu = (
        '{"gpu": %d, "asic": {"market_name": "AMD Instinct MI300X"}, "vram": {"size": "196592 MB"}}'
    )
    text = "[" + ",".join(gpu % i for i in range(8)) + "]"
    [slot] = hv.parse_amd_smi_json(text)
    assert (slot.model, slot.count) == ("AMD Instinct MI300X", 8)
    assert slot.vram_gb == pytest.approx(192.0, abs=0.05)


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"gpu_data": [{"gpu": 0}]}', "{}"])
def test_unparseable_amd_output_is_no_gpu(text: str) -> None:
    assert hv.parse_amd_smi_json(text) == []
    assert hv.parse_rocm_smi_json(text) == []


def test_system_profiler_text_gives_chip_memory_and_cores() -> None:
    assert hv.parse_system_profiler(read("system-profiler-m2pro.txt")) == {
        "chip": "Apple M2 Pro",
        "memory_gb": 16.0,
        "cores": 12,
    }
    assert hv.parse_system_profiler(read("system-profiler-m1pro.txt"))["chip"] == "Apple M1 Pro"


def test_system_profiler_json_form() -> None:
    text = (
        '{"SPHardwareDataType": [{"chip_type": "Apple M3 Max", "physical_memory": "64 GB",'
        ' "number_processors": "proc 16:12:4"}]}'
    )
    assert hv.parse_system_profiler(text) == {
        "chip": "Apple M3 Max",
        "memory_gb": 64.0,
        "cores": 16,
    }


def test_sysctl_lines_parse() -> None:
    values = hv.parse_sysctl(read("sysctl-machdep-m1pro.txt"))
    assert values["machdep.cpu.brand_string"] == "Apple M1 Pro"
    assert values["machdep.cpu.core_count"] == "8"


def test_apple_detection_falls_back_to_system_profiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """sysctl without hw.memsize (the recorded output): system_profiler gives the memory."""
    monkeypatch.setattr(hv.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(hv.platform, "machine", lambda: "arm64")
    outputs = {
        "sysctl": read("sysctl-machdep-m1pro.txt"),
        "system_profiler": read("system-profiler-m1pro.txt"),
    }
    monkeypatch.setattr(hv, "_run", lambda args, timeout_s=10.0: (outputs[args[0]], None))
    slot, why = hv.detect_apple_silicon()
    assert why is None and slot is not None
    assert (slot.model, slot.vram_gb, slot.unified_memory, slot.segment) == (
        "Apple M1 Pro",
        16.0,
        True,
        "apple",
    )


def test_not_a_mac_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hv.platform, "system", lambda: "Linux")
    slot, why = hv.detect_apple_silicon()
    assert slot is None and why == "not an Apple silicon Mac"


def test_detected_apple_and_amd_chips_get_catalog_bandwidth() -> None:
    catalog = load_catalog()
    apple = hv.apple_slot("Apple M4 Max", 64.0)
    amd = hv.parse_amd_smi_json(
        '[{"gpu": 0, "asic": {"market_name": "AMD Instinct MI300X"},'
        ' "vram": {"size": {"value": 196592, "unit": "MB"}}}]'
    )[0]
    profile = HardwareProfile(source="detected", ram_gb=64, gpus=[apple, amd])
    enriched = enrich_detected(profile, catalog)
    m4, mi300 = enriched.gpus
    assert m4.bandwidth_gb_s and m4.vram_gb == 64.0  # the machine's memory, not the catalog's
    assert mi300.catalog_id == "mi300x" and mi300.segment == "datacenter"
