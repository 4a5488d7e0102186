"""The key-to-line locator reads TOML's structure: text inside multi-line strings and arrays
is never taken for a key (a `layers = 32` in a notes string used to be reported as the key)."""

from __future__ import annotations

from pathlib import Path

from selector.catalog import validate_catalog
from selector.tomlio import locate

TEXT = '''[[model]]
id = "a"
notes = """Derived from a sibling:
layers = 32 in the sibling's config,
and "quotes" plus an escaped \\""" that does not close.
"""
layers = 48
sources = [
  "https://example.org/x?layers=3",
  "https://example.org/y",
]
params_b = 3 # a comment with layers = 5

[model.attention]
heads = 4

[[model]]
id = "b"
notes = \'\'\'literal
layers = 7\'\'\'
layers = 9
'''


def test_keys_inside_multiline_strings_are_not_keys() -> None:
    assert locate(TEXT, ("model", 0, "layers")) == 7
    assert locate(TEXT, ("model", 1, "layers")) == 21


def test_keys_after_multiline_arrays_and_comments() -> None:
    assert locate(TEXT, ("model", 0, "params_b")) == 12
    assert locate(TEXT, ("model", 0, "attention", "heads")) == 15
    assert locate(TEXT, ("model", 1, "id")) == 18


def test_a_missing_key_points_at_its_table() -> None:
    assert locate(TEXT, ("model", 1, "context_tokens")) == 17


def test_validate_reports_the_real_line(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '''[[model]]
id = "private-x"
name = "X"
family = "x"
organization = "X"
origin_country = "US"
release_date = 2026-01-01
params_b = 3
architecture = "dense"
notes = """config of the base:
layers = 32
"""
layers = 0
context_tokens = 4096
license = "apache-2.0"
sources = ["https://example.org"]

[model.attention]
heads = 4
kv_heads = 1
head_dim = 64
''',
        encoding="utf-8",
    )
    report = validate_catalog([path])
    assert not report.ok
    assert any(f"{path}:13: model[0].layers" in line for line in report.lines()), report.lines()
