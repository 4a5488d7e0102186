"""Every family the catalog issue names is in the catalog or explained in docs/catalog.md,
and docs/catalog.md documents exactly the schema's fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from selector.catalog import ModelEntry, load_catalog, validate_catalog
from selector.catalog.schema import (
    GPU,
    Attention,
    Benchmark,
    CompressedKV,
    License,
    LicenseClause,
    MoE,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "catalog.md"
UNVERIFIABLE_HEADING = "## Families not in the catalog / unverifiable"

# Family named in the catalog issue -> family ids / model-id stems that count as present.
# A stem matches a model id equal to it or starting with it plus "-" (so "minimax-m2" is not
# satisfied by "minimax-m2.5"), and a family id equal to it.
FAMILIES: dict[str, tuple[str, ...]] = {
    "Gemma 4": ("gemma-4",),
    "Gemma 3": ("gemma-3",),
    "Qwen 3": ("qwen-3", "qwen3"),
    "Qwen 3.5": ("qwen-3.5", "qwen3.5"),
    "Qwen 3.6": ("qwen-3.6", "qwen3.6"),
    "Qwen 3.8": ("qwen-3.8", "qwen3.8"),
    "Llama 3.1": ("llama-3.1",),
    "Llama 3.3": ("llama-3.3",),
    "Llama 4": ("llama-4",),
    "Mistral": ("mistral", "devstral", "magistral", "ministral", "mistral-small", "mistral-large"),
    "Mistral Small 4": ("mistral-small-4",),
    "gpt-oss": ("gpt-oss",),
    "DeepSeek V3": ("deepseek-v3",),
    "DeepSeek R1": ("deepseek-r1",),
    "DeepSeek R1 distills": ("deepseek-r1-distill",),
    "DeepSeek V3.1": ("deepseek-v3.1",),
    "DeepSeek V3.2": ("deepseek-v3.2",),
    "DeepSeek V4": ("deepseek-v4",),
    "Kimi K2": ("kimi-k2",),
    "Kimi K2.5": ("kimi-k2.5",),
    "Kimi K2.6": ("kimi-k2.6",),
    "GLM 4.5+": ("glm-4.5", "glm-4.6", "glm-4.7"),
    "GLM 5": ("glm-5",),
    "GLM 5.1": ("glm-5.1",),
    "MiniMax M2": ("minimax-m2",),
    "MiniMax M2.5": ("minimax-m2.5",),
    "MiniMax M2.7": ("minimax-m2.7",),
    "Nemotron 3": ("nemotron-3",),
    "Nemotron 3 Super": ("nemotron-3-super",),
    "Nemotron 3 Ultra": ("nemotron-3-ultra",),
    "OLMo 2": ("olmo-2",),
    "Olmo 3": ("olmo-3",),
    "Arcee Trinity": ("trinity", "arcee-trinity"),
    "Phi-4": ("phi-4",),
    "Granite 4": ("granite-4", "granite-4.0", "granite-4.1"),
    "SmolLM3": ("smollm3", "smollm-3"),
    # The 2026 releases of issue 15.
    "GLM 5.2": ("glm-5.2",),
    "MiniMax M3": ("minimax-m3",),
    "Granite 4.1": ("granite-4.1",),
    "Nemotron 3.5 Lightning": ("nemotron-3.5",),
    "Laguna XS.2": ("laguna",),
    "North Mini Code": ("north",),
    "Trinity Large": ("trinity-large",),
    "Step 3.5 Flash": ("step-3.5",),
    "Qwen3-Coder-Next": ("qwen3-coder-next",),
    "Qwen3-Coder": ("qwen-3-coder", "qwen3-coder"),
    "Ling 2.5": ("ling-2.5",),
    "Gemma 4 12B": ("gemma-4-12b",),
}


def _present(stems: tuple[str, ...], models: list[ModelEntry]) -> list[str]:
    return [
        m.id
        for m in models
        if any(m.family == s or m.id == s or m.id.startswith(f"{s}-") for s in stems)
    ]


def _doc_section(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    assert heading in text, f"{DOC} has no {heading!r} section"
    section = text.split(heading, 1)[1]
    return re.split(r"^#{2,3} ", section, maxsplit=1, flags=re.M)[0]


def _unverifiable_families() -> set[str]:
    return set(re.findall(r"^- \*\*(.+?)\*\*", _doc_section(UNVERIFIABLE_HEADING), flags=re.M))


@pytest.fixture(scope="module")
def models() -> list[ModelEntry]:
    return list(load_catalog().models.values())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_is_in_the_catalog_or_explained(family: str, models: list[ModelEntry]) -> None:
    present = _present(FAMILIES[family], models)
    listed = family in _unverifiable_families()
    assert present or listed, (
        f"{family}: no catalog entry matches {FAMILIES[family]} and docs/catalog.md's "
        f"'{UNVERIFIABLE_HEADING[3:]}' section has no '- **{family}**' bullet"
    )
    assert not (present and listed), (
        f"{family} is in the catalog ({', '.join(present)}) but docs/catalog.md still lists it "
        "as missing: remove the bullet"
    )


def test_unverifiable_section_names_only_known_families() -> None:
    unknown = _unverifiable_families() - set(FAMILIES)
    assert not unknown, f"docs/catalog.md lists families the issue does not name: {unknown}"


SCHEMA_SECTIONS: dict[str, type[BaseModel]] = {
    "## `[[model]]`": ModelEntry,
    "### `[model.attention]`": Attention,
    "### `[[model.attention.compressed]]`": CompressedKV,
    "### `[model.moe]`": MoE,
    "### `[[model.benchmarks]]`": Benchmark,
    "## `[[license]]`": License,
    "### `[[license.clauses]]`": LicenseClause,
    "## `[[gpu]]`": GPU,
}


@pytest.mark.parametrize("heading", list(SCHEMA_SECTIONS))
def test_docs_document_exactly_the_schema_fields(heading: str) -> None:
    schema = SCHEMA_SECTIONS[heading]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", _doc_section(heading), flags=re.M)
    assert len(documented) == len(set(documented)), f"{heading}: a field is listed twice"
    assert set(documented) == set(schema.model_fields), (
        f"{heading}: undocumented {set(schema.model_fields) - set(documented)}, "
        f"not in schema {set(documented) - set(schema.model_fields)}"
    )


def test_docs_required_column_matches_the_schema() -> None:
    for heading, schema in SCHEMA_SECTIONS.items():
        rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", _doc_section(heading), flags=re.M)
        for name, required in rows:
            assert (required.strip() == "yes") == schema.model_fields[name].is_required(), (
                f"{heading} `{name}`: docs say required={required.strip()!r}"
            )


def test_the_private_model_example_in_the_docs_validates(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    example = next(b for b in blocks if "[[model]]" in b)
    path = tmp_path / "private.toml"
    path.write_text(example, encoding="utf-8")
    report = validate_catalog([path], include_builtin=True)
    assert report.ok, report.lines()
