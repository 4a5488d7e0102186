"""The shipped `[[artifact]]` data: coverage of the seed families, honest `unverified` lists,
and the pins that were read from Hugging Face commit pages, kept exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from selector.catalog import load_catalog
from selector.catalog.loader import Catalog
from selector.catalog.schema import Artifact, ArtifactFile

DOC = Path(__file__).resolve().parents[1] / "docs" / "catalog.md"

# The families the catalog was seeded with (catalog/models/*.toml). A new variant of one of
# them up to MAX_PARAMS_B needs an artifact; a new family is not held to this list.
SEED_FAMILIES = {
    "deepseek-r1",
    "deepseek-r1-distill",
    "deepseek-v3",
    "gemma-3",
    "gemma-4",
    "glm-4.5",
    "glm-4.7",
    "glm-5",
    "gpt-oss",
    "granite-4.0",
    "kimi-k2",
    "llama-3",
    "llama-4",
    "minimax-m2",
    "mistral",
    "nemotron-3",
    "olmo-2",
    "olmo-3",
    "phi-4",
    "qwen-3",
    "qwen-3.5",
    "qwen-3.6",
    "qwen-3.8",
    "smollm3",
    "trinity",
}
MAX_PARAMS_B = 40.0
# The bundled demo model's artifact is catalog/artifacts/demo.toml, kept with the weights code.
DEMO_MODEL = "gemma-3-270m"

# Pins read from the Git LFS pointer in a Hugging Face commit page (the URL is each entry's
# `source`). An edit that changes one of these figures must fail here.
PINNED = [
    (
        "llama-3.1-8b",
        "Q4_K_M",
        "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
        "ff042e8796c5690f196991bcf8bb1d0a7cbe14d2",
        "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        4920734656,
        "431354b8f6066accf13219106f1956ecf9a212089dea1fd18b416454f28ba421",
    ),
    (
        "llama-3.1-8b",
        "Q3_K_M",
        "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
        "a8ec4267c8fc13b9d2843f7b23c8601ae97c9c54",
        "Meta-Llama-3.1-8B-Instruct-Q3_K_M.gguf",
        4018918336,
        "1a0e85073c9cc77cff72da5c4a8fe23defb071bae31758a9f4bb55a867138e0b",
    ),
    (
        "mistral-nemo-12b",
        "Q4_K_M",
        "bartowski/Mistral-Nemo-Instruct-2407-GGUF",
        "2a500b68deb9d55e69fbbd2bd8c8c832ea020d27",
        "Mistral-Nemo-Instruct-2407-Q4_K_M.gguf",
        7477208192,
        "7c1a10d202d8788dbe5628dc962254d10654c853cae6aaeca0618f05490d4a46",
    ),
    (
        "deepseek-r1-distill-qwen-32b",
        "Q3_K_M",
        "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF",
        "fffedcc2e40ad2b6db85ac3801c15e494b2b8483",
        "DeepSeek-R1-Distill-Qwen-32B-Q3_K_M.gguf",
        15935047584,
        "618f96af5fb0df73093d49ff9b611aab2ec3fe878c8fb5db9787c50a4b37a9bd",
    ),
    (
        "gemma-3-4b",
        "Q4_K_M",
        "l3utterfly/gemma-3-4b-it-gguf",
        "d7ab7be3f82e9db30f6127993318cec434e6666a",
        "gemma-3-4b-it-Q4_K_M.gguf",
        2489893664,
        "226c620a06517aef8a9ceb878eae6b95248fde133466532fa07c834c16d4e66f",
    ),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _unverified_fields() -> set[str]:
    """The names an artifact's `unverified` may use: its own fields and `files.<field>`."""
    return set(Artifact.model_fields) | {f"files.{name}" for name in ArtifactFile.model_fields}


def test_every_seed_family_model_up_to_40b_has_a_gguf_artifact(catalog: Catalog) -> None:
    wanted = sorted(
        m.id
        for m in catalog.models.values()
        if m.family in SEED_FAMILIES and m.params_b <= MAX_PARAMS_B and m.id != DEMO_MODEL
    )
    assert len(wanted) >= 30, wanted
    missing = [
        mid for mid in wanted if not any(a.format == "gguf" for a in catalog.artifacts_for(mid))
    ]
    assert not missing, f"no gguf artifact for: {missing}"


def test_there_are_at_least_thirty_gguf_artifacts(catalog: Catalog) -> None:
    assert sum(a.format == "gguf" for a in catalog.artifacts.values()) >= 30


def test_every_artifact_has_an_https_source_and_says_where_it_was_read(catalog: Catalog) -> None:
    for art in catalog.artifacts.values():
        assert art.source.scheme == "https", art.id
        assert art.notes.strip(), f"{art.id}: notes must say where the facts were read"


def test_unverified_names_real_fields(catalog: Catalog) -> None:
    known = _unverified_fields()
    for art in catalog.artifacts.values():
        unknown = set(art.unverified) - known
        assert not unknown, f"{art.id}: unverified names unknown fields {unknown}"


def test_every_missing_pin_is_declared_unverified(catalog: Catalog) -> None:
    for art in catalog.artifacts.values():
        if art.revision is None:
            assert "revision" in art.unverified, art.id
        if any(f.size_bytes is None for f in art.files):
            assert "files.size_bytes" in art.unverified, art.id
        if any(f.sha256 is None for f in art.files):
            assert "files.sha256" in art.unverified, art.id


def test_a_figure_that_is_present_is_not_called_unverified(catalog: Catalog) -> None:
    for art in catalog.artifacts.values():
        if art.revision is not None:
            assert "revision" not in art.unverified, art.id
        if art.files and all(f.size_bytes is not None for f in art.files):
            assert "files.size_bytes" not in art.unverified, art.id
        if art.files and all(f.sha256 is not None for f in art.files):
            assert "files.sha256" not in art.unverified, art.id


def test_a_pinned_revision_is_the_commit_its_source_was_read_at(catalog: Catalog) -> None:
    pinned = [a for a in catalog.artifacts.values() if a.revision is not None]
    assert pinned
    for art in pinned:
        assert art.revision is not None and art.revision in str(art.source), art.id
        assert f"/{art.repo}/" in str(art.source), art.id


@pytest.mark.parametrize(("model", "quant", "repo", "revision", "name", "size", "sha"), PINNED)
def test_pinned_facts_keep_their_exact_size_and_sha256(
    catalog: Catalog,
    model: str,
    quant: str,
    repo: str,
    revision: str,
    name: str,
    size: int,
    sha: str,
) -> None:
    art = catalog.artifacts[f"{model}:gguf:{quant}:{repo}"]
    assert art.revision == revision
    assert [(f.name, f.size_bytes, f.sha256) for f in art.files] == [(name, size, sha)]
    assert art.size_bytes == size
    assert art.unverified == []
    assert str(art.source).endswith(f"/commit/{revision}")


def _doc_table(heading: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    assert heading in text, f"{DOC} has no {heading!r} section"
    section = re.split(r"^#{2,3} ", text.split(heading, 1)[1], maxsplit=1, flags=re.M)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M)


@pytest.mark.parametrize(
    ("heading", "schema"),
    [("### `[[artifact]]`", Artifact), ("### `files` entries", ArtifactFile)],
)
def test_docs_document_exactly_the_artifact_fields(heading: str, schema: type) -> None:
    documented = _doc_table(heading)
    assert len(documented) == len(set(documented)), f"{heading}: a field is listed twice"
    assert set(documented) == set(schema.model_fields)


def test_the_artifact_example_in_the_docs_validates(tmp_path: Path) -> None:
    from selector.catalog import validate_catalog

    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    example = next(b for b in blocks if "[[artifact]]" in b)
    path = tmp_path / "example.toml"
    # the example is a shipped pin: moved to another model and repository, so that it does not
    # collide with itself (the same file listed twice is a problem of its own)
    moved = example.replace('model = "mistral-nemo-12b"', 'model = "phi-4"')
    moved = moved.replace('repo = "bartowski/', 'repo = "example/')
    path.write_text(moved, "utf-8")
    report = validate_catalog([path], include_builtin=True)
    assert report.ok, report.lines()
