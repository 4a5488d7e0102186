"""Discovery: GGUF files in a models dir matched to catalog entries, the rest reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from support.gguf_models import make_corrupt_gguf, make_tiny_gguf

from selector.catalog import Catalog, License, ModelEntry
from selector.errors import InputError
from selector.smoke.discovery import (
    GGUFFormatError,
    discover_models,
    guess_tuning,
    read_gguf_metadata,
)
from selector.vocab import Tuning


def _entry(
    model_id: str, params_b: float, *, tuning: str = "instruct", files: tuple = ()
) -> ModelEntry:
    return ModelEntry.model_validate(
        {
            "id": model_id,
            "name": model_id,
            "family": "tiny",
            "organization": "Test",
            "origin_country": "US",
            "release_date": dt.date(2025, 1, 1),
            "params_b": params_b,
            "architecture": "dense",
            "layers": 2,
            "attention": {"heads": 4, "kv_heads": 2, "head_dim": 16},
            "context_tokens": 4096,
            "license": "test",
            "tuning": tuning,
            "gguf_arch": "llama",
            "gguf_files": list(files),
            "sources": ["https://example.com/"],
        }
    )


@pytest.fixture()
def catalog() -> Catalog:
    lic = License.model_validate(
        {
            "id": "test",
            "name": "Test",
            "osi_approved": True,
            "commercial_use": True,
            "url": "https://example.com/",
            "sources": ["https://example.com/"],
        }
    )
    models = [
        _entry("tiny-1b", 1.0),
        _entry("tiny-7b-instruct", 7.0),
        _entry("tiny-7b-base", 7.0, tuning="base"),
        _entry("named-model", 3.0, files=("My-Custom-Name.gguf",)),
    ]
    return Catalog(models={m.id: m for m in models}, licenses={"test": lic})


def test_files_match_by_name_and_by_metadata_and_the_rest_is_reported(
    tmp_path: Path, catalog: Catalog
) -> None:
    make_tiny_gguf(tmp_path / "my-custom-name.gguf", name="whatever")  # catalog file name
    make_tiny_gguf(tmp_path / "a.gguf", name="Tiny", size_label="1B")
    make_tiny_gguf(tmp_path / "sub" / "b.gguf", name="Tiny", size_label="7B", finetune="Instruct")
    make_tiny_gguf(tmp_path / "c.gguf", name="Tiny 7B")  # base: no instruct hint
    make_tiny_gguf(tmp_path / "d.gguf", name="Huge", size_label="70B")
    make_tiny_gguf(tmp_path / "e.gguf", arch="mystery", name="Tiny", size_label="1B")
    make_corrupt_gguf(tmp_path / "broken.gguf")
    (tmp_path / "notes.txt").write_text("not a model")

    found = discover_models(tmp_path, catalog)

    assert found.matches == {
        "named-model": tmp_path / "my-custom-name.gguf",
        "tiny-1b": tmp_path / "a.gguf",
        "tiny-7b-instruct": tmp_path / "sub" / "b.gguf",
        "tiny-7b-base": tmp_path / "c.gguf",
    }
    reasons = {u.path.name: u.reason for u in found.unmatched}
    assert set(reasons) == {"d.gguf", "e.gguf", "broken.gguf"}
    assert "70B parameters matches no 'llama' catalog entry" in reasons["d.gguf"]
    assert "no catalog entry has gguf_arch 'mystery'" in reasons["e.gguf"]
    assert "not a loadable GGUF" in reasons["broken.gguf"]


def test_second_file_for_one_entry_is_reported_not_dropped(
    tmp_path: Path, catalog: Catalog
) -> None:
    make_tiny_gguf(tmp_path / "a.gguf", name="Tiny", size_label="1B")
    make_tiny_gguf(tmp_path / "b.gguf", name="Tiny", size_label="1B", seed=3)
    found = discover_models(tmp_path, catalog)
    assert found.matches == {"tiny-1b": tmp_path / "a.gguf"}
    assert [(u.path.name, u.reason) for u in found.unmatched] == [
        ("b.gguf", "another file already serves tiny-1b: a.gguf")
    ]


def test_models_dir_must_exist(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(InputError, match="not a directory"):
        discover_models(tmp_path / "nope", catalog)


def test_metadata_reader_and_tuning_guess(tmp_path: Path) -> None:
    path = make_tiny_gguf(tmp_path / "t.gguf", name="Tiny", size_label="1B", finetune="it")
    info = read_gguf_metadata(path)
    assert info.architecture == "llama"
    assert info.quantization == "F32"
    assert info.context_length == 4096
    assert info.get("tokenizer.ggml.tokens").count > 256
    assert guess_tuning(info) is Tuning.INSTRUCT
    base = read_gguf_metadata(make_tiny_gguf(tmp_path / "b.gguf", name="Tiny"))
    assert guess_tuning(base) is Tuning.BASE
    with pytest.raises(GGUFFormatError, match="not a loadable GGUF"):
        read_gguf_metadata(make_corrupt_gguf(tmp_path / "x.gguf", keep_bytes=500, source=path))
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFFormatError):
        read_gguf_metadata(empty)


def test_real_catalog_knows_the_demo_file() -> None:
    from selector.catalog import load_catalog

    entry = load_catalog().model("gemma-3-270m")
    assert entry.tuning is Tuning.BASE
    assert "gemma-3-270m-q4_k_m.gguf" in entry.gguf_files
