"""The validated-catalog cache: a hit returns the same catalog, any edit misses, junk is ignored."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from selector.catalog import cache, load_catalog
from selector.catalog.loader import builtin_catalog_dir, catalog_files
from selector.errors import CatalogError


@pytest.fixture()
def catalog_copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(builtin_catalog_dir(), root)
    return root


def test_second_load_comes_from_the_cache(catalog_copy: Path) -> None:
    first = load_catalog(base=catalog_copy)
    key = cache.catalog_key(catalog_files(catalog_copy))
    assert cache.load_cached(key) is not None
    second = load_catalog(base=catalog_copy)
    assert second.models.keys() == first.models.keys()
    assert second.models["gemma-3-270m"] == first.models["gemma-3-270m"]


def test_editing_a_file_misses_the_cache(catalog_copy: Path) -> None:
    load_catalog(base=catalog_copy)
    path = catalog_copy / "models" / "gemma-3.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('name = "Gemma 3 270M (base)"', 'name = "Edited"')
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert load_catalog(base=catalog_copy).models["gemma-3-270m"].name == "Edited"


def test_a_broken_edit_is_reported_not_served_from_cache(catalog_copy: Path) -> None:
    load_catalog(base=catalog_copy)
    path = catalog_copy / "models" / "gemma-3.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[[model]]\nid = 3\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"gemma-3\.toml"):
        load_catalog(base=catalog_copy)


def test_corrupt_cache_entry_is_ignored_and_rewritten(catalog_copy: Path) -> None:
    load_catalog(base=catalog_copy)
    key = cache.catalog_key(catalog_files(catalog_copy))
    entry = next((Path(os.environ["SELECTOR_CACHE_DIR"]) / "catalog").glob(f"{key}.json"))
    entry.write_bytes(b"not json")
    assert cache.load_cached(key) is None
    assert "gemma-3-270m" in load_catalog(base=catalog_copy).models
    assert cache.load_cached(key) is not None


def test_a_hit_equals_a_fresh_parse_entry_for_entry(catalog_copy: Path) -> None:
    fresh = load_catalog(base=catalog_copy)
    cached = cache.load_cached(cache.catalog_key(catalog_files(catalog_copy)))
    assert cached is not None
    assert cached == fresh  # every model, license, GPU, artifact, origin and root, in order
    assert list(cached.models) == list(fresh.models)


def test_a_planted_pickle_never_runs(catalog_copy: Path, tmp_path: Path) -> None:
    """Issue 17: the cache used to be a pickle; a planted one ran code on the next load."""
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # what an attacker's pickle does
            return (marker.write_text, ("ran",))

    key = cache.catalog_key(catalog_files(catalog_copy))
    entries = Path(os.environ["SELECTOR_CACHE_DIR"]) / "catalog"
    entries.mkdir(parents=True, exist_ok=True)
    planted = pickle.dumps(Payload())
    for name in (f"{key}.pickle", f"{key}.json"):
        (entries / name).write_bytes(planted)
    load_catalog(base=catalog_copy)  # the key file exists now: a signed-looking plant too
    (entries / f"{key}.json").write_bytes(b"0" * 64 + b"\n" + planted)
    assert "gemma-3-270m" in load_catalog(base=catalog_copy).models
    assert not marker.exists()


def test_an_edited_or_planted_entry_is_not_trusted(catalog_copy: Path) -> None:
    """Entries are signed with this user's key: an edit (or a forged entry) is a miss."""
    load_catalog(base=catalog_copy)
    key = cache.catalog_key(catalog_files(catalog_copy))
    entry = Path(os.environ["SELECTOR_CACHE_DIR"]) / "catalog" / f"{key}.json"
    signature, body = entry.read_bytes().split(b"\n", 1)
    data = json.loads(body)
    data["models"][0]["layers"] = 10**12  # would size per-layer lists
    data["licenses"][0]["commercial_use"] = not data["licenses"][0]["commercial_use"]
    entry.write_bytes(signature + b"\n" + json.dumps(data).encode())
    assert cache.load_cached(key) is None
    fresh = load_catalog(base=catalog_copy)  # re-parsed from the TOML, and re-cached
    assert max(m.layers for m in fresh.models.values()) < 10_000
    assert cache.load_cached(key) == fresh


def test_a_hit_keeps_every_type_the_schema_gives(catalog_copy: Path) -> None:
    fresh = load_catalog(base=catalog_copy)
    hit = cache.load_cached(cache.catalog_key(catalog_files(catalog_copy)))
    assert hit is not None
    for model_id, model in fresh.models.items():
        again = hit.models[model_id]
        assert again.model_dump(mode="json") == model.model_dump(mode="json")
        assert type(again.release_date) is type(model.release_date)
        assert [type(s) for s in again.sources] == [type(s) for s in model.sources]
        assert type(again.attention) is type(model.attention)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_an_entry_others_can_write_is_ignored(catalog_copy: Path) -> None:
    load_catalog(base=catalog_copy)
    key = cache.catalog_key(catalog_files(catalog_copy))
    entry = Path(os.environ["SELECTOR_CACHE_DIR"]) / "catalog" / f"{key}.json"
    entry.chmod(0o666)
    assert cache.load_cached(key) is None
