"""The shipped license and GPU tables say what their sources say, and GPU names resolve."""

from __future__ import annotations

import pytest

from selector.catalog import Catalog, load_catalog
from selector.vocab import Clause

# Ids the model files refer to; they were agreed before the model entries were written.
REQUIRED_LICENSES = {
    "apache-2.0",
    "mit",
    "llama-3.1",
    "llama-3.3",
    "llama-4",
    "gemma",
    "nvidia-open-model",
    "deepseek-model",
    "kimi-modified-mit",
    "minimax-m2.5",
    "minimax-model",
    "minimax-non-commercial",
    "mistral-research",
    "devstral-2-modified-mit",
    "qwen",
}


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def test_required_license_ids_exist(cat: Catalog) -> None:
    assert set(cat.licenses) >= REQUIRED_LICENSES, REQUIRED_LICENSES - set(cat.licenses)


@pytest.mark.parametrize("license_id", ["llama-3.1", "llama-3.3", "llama-4"])
def test_llama_licenses_cap_at_700m_users_and_require_the_name(
    cat: Catalog, license_id: str
) -> None:
    lic = cat.licenses[license_id]
    cap = [c for c in lic.clauses if c.kind is Clause.MAU_CAP]
    assert len(cap) == 1 and "700 million" in cap[0].threshold
    assert lic.has(Clause.NAMING) and lic.has(Clause.ATTRIBUTION)
    assert lic.has(Clause.ACCEPTABLE_USE_POLICY)
    assert lic.commercial_use and not lic.osi_approved


def test_only_llama_4_withholds_rights_by_region(cat: Catalog) -> None:
    regional = {lic.id for lic in cat.licenses.values() if lic.has(Clause.REGION_RESTRICTION)}
    assert regional == {"llama-4"}
    clause = next(c for c in cat.licenses["llama-4"].clauses if c.kind is Clause.REGION_RESTRICTION)
    assert "European Union" in clause.detail


@pytest.mark.parametrize(("license_id", "spdx"), [("apache-2.0", "Apache-2.0"), ("mit", "MIT")])
def test_osi_licenses(cat: Catalog, license_id: str, spdx: str) -> None:
    lic = cat.licenses[license_id]
    assert lic.osi_approved and lic.commercial_use and lic.spdx == spdx


def test_osi_approval_is_claimed_only_for_osi_licenses(cat: Catalog) -> None:
    approved = {lic.id for lic in cat.licenses.values() if lic.osi_approved}
    assert approved == {"apache-2.0", "mit"}


def test_non_commercial_licenses_say_so_in_both_places(cat: Catalog) -> None:
    for lic in cat.licenses.values():
        assert lic.has(Clause.NON_COMMERCIAL) == (not lic.commercial_use), lic.id
    assert not cat.licenses["minimax-non-commercial"].commercial_use
    assert not cat.licenses["mistral-research"].commercial_use


def test_caps_carry_their_thresholds(cat: Catalog) -> None:
    qwen_cap = next(c for c in cat.licenses["qwen"].clauses if c.kind is Clause.MAU_CAP)
    assert "100 million" in qwen_cap.threshold
    devstral = cat.licenses["devstral-2-modified-mit"]
    revenue = next(c for c in devstral.clauses if c.kind is Clause.REVENUE_CAP)
    assert "20 million" in revenue.threshold
    kimi = next(c for c in cat.licenses["kimi-modified-mit"].clauses)
    assert kimi.kind is Clause.ATTRIBUTION and "100 million" in kimi.threshold


def test_flow_down_licenses(cat: Catalog) -> None:
    assert cat.licenses["gemma"].has(Clause.FLOW_DOWN)
    assert cat.licenses["deepseek-model"].has(Clause.FLOW_DOWN)
    assert cat.licenses["deepseek-model"].has(Clause.FIELD_OF_USE)


def test_minimax_m25_records_the_version_it_describes(cat: Catalog) -> None:
    lic = cat.licenses["minimax-m2.5"]
    assert lic.version and "2026-03-06" in lic.notes


def test_at_least_twenty_gpus_in_every_segment(cat: Catalog) -> None:
    assert len(cat.gpus) >= 20
    segments = {g.segment for g in cat.gpus.values()}
    assert segments == {"datacenter", "workstation", "consumer", "apple"}


def test_apple_parts_are_unified_memory(cat: Catalog) -> None:
    apple = [g for g in cat.gpus.values() if g.segment == "apple"]
    assert len(apple) >= 4
    assert all(g.unified_memory and g.vendor == "Apple" for g in apple)
    assert {"apple-m3-max", "apple-m4-max", "apple-m3-ultra", "apple-m4-pro"} <= {
        g.id for g in apple
    }


@pytest.mark.parametrize(
    ("name", "gpu_id"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("H100", "h100-sxm"),
        ("h100-sxm5-80gb", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200-sxm"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb-sxm"),
        ("NVIDIA A100-PCIE-40GB", "a100-40gb-pcie"),
        ("l40s", "l40s"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("RTX 5090", "rtx-5090"),
        ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000-blackwell"),
        ("MI300X", "mi300x"),
        ("M3 Max", "apple-m3-max"),
        ("Apple M4 Max", "apple-m4-max"),
    ],
)
def test_gpu_names_resolve(cat: Catalog, name: str, gpu_id: str) -> None:
    gpu = cat.find_gpu(name)
    assert gpu is not None and gpu.id == gpu_id


def test_every_alias_resolves_to_its_own_gpu(cat: Catalog) -> None:
    for gpu in cat.gpus.values():
        for name in (gpu.id, gpu.model, *gpu.aliases):
            found = cat.find_gpu(name)
            assert found is not None and found.id == gpu.id, (name, gpu.id)


def test_unknown_gpu_is_none(cat: Catalog) -> None:
    assert cat.find_gpu("Voodoo 5 6000") is None


def test_fp16_figures_are_dense(cat: Catalog) -> None:
    # Datasheet pairs "dense | sparse*": H100 SXM 989.5 | 1979, L40S 362.05 | 733, L4 121 | 242.
    expected = {"h100-sxm": 989.5, "l40s": 362.05, "l4": 121, "a100-80gb-sxm": 312}
    assert {k: cat.gpus[k].fp16_tflops for k in expected} == expected
    assert cat.gpus["rtx-4090"].fp16_tflops == pytest.approx(165.2)  # FP32 accumulate
