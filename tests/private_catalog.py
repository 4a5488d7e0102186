"""A private catalog (two models, their license, an artifact each) for decision-record tests.

The artifacts pin real files: tiny GGUFs written by tests/support/gguf_models.py, hashed here
with hashlib, so a test can check that every sha256 selector reports or locks is the file's
own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from support.gguf_models import make_tiny_gguf

LICENSE = """
[[license]]
id = "acme-license"
name = "ACME Model License"
osi_approved = false
commercial_use = true
version = "1.0 (2025-01-01)"
url = "https://acme.example/license"
sources = ["https://acme.example/license"]

[[license.clauses]]
kind = "attribution"
detail = "Keep the ACME notice."
"""

MODEL = """
[[model]]
id = "{id}"
name = "{name}"
family = "acme"
organization = "ACME Corp"
origin_country = "DE"
release_date = {released}
params_b = {params_b}
architecture = "dense"
layers = 2
context_tokens = 4096
license = "acme-license"
capabilities = ["tool-calling"]
sources = ["https://acme.example/{id}"]

[model.attention]
heads = 4
kv_heads = 2
head_dim = 16
"""

ARTIFACT = """
[[artifact]]
model = "{id}"
format = "gguf"
quantization = "Q4_K_M"
repo = "acme/{id}-GGUF"
revision = "{revision}"
source = "https://huggingface.co/acme/{id}-GGUF/commit/{revision}"
files = [{{ name = "{file}", size_bytes = {size}, sha256 = "{sha}" }}]
"""

REQUIREMENTS = """
[use_case]
name = "audit test"
context_tokens = 2048

[license]
allow = ["acme-license"]
commercial_use = true

[hardware]
cpu_only = true
ram_gb = 16
"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class PrivateCatalog:
    dir: Path
    file: Path  # the catalog TOML
    requirements: Path
    weights: dict[str, Path]  # model id -> its GGUF

    def rewrite(self, old: str, new: str) -> None:
        text = self.file.read_text(encoding="utf-8")
        assert old in text, old
        self.file.write_text(text.replace(old, new), encoding="utf-8")


def make_private_catalog(tmp: Path, *, pinned: bool = True) -> PrivateCatalog:
    """Two ACME models (3B ranks above 1B under the ~30B preference), each with a GGUF."""
    weights_dir = tmp / "weights"
    weights_dir.mkdir(parents=True, exist_ok=True)
    parts = [LICENSE]
    weights = {}
    models = [
        ("acme-3b", "ACME 3B", 3.0, "2025-03-01", 1),
        ("acme-1b", "ACME 1B", 1.0, "2025-02-01", 2),
    ]
    for model_id, name, params, released, seed in models:
        gguf = make_tiny_gguf(weights_dir / f"{model_id}-Q4_K_M.gguf", name=name, seed=seed)
        weights[model_id] = gguf
        parts.append(MODEL.format(id=model_id, name=name, params_b=params, released=released))
        art = ARTIFACT.format(
            id=model_id,
            revision=f"{seed:040x}",
            file=gguf.name,
            size=gguf.stat().st_size,
            sha=sha256_of(gguf),
        )
        if not pinned:
            art = art.replace(
                f', size_bytes = {gguf.stat().st_size}, sha256 = "{sha256_of(gguf)}"', ""
            )
        parts.append(art)
    cat_dir = tmp / "acme-catalog"
    cat_dir.mkdir(parents=True, exist_ok=True)
    cat_file = cat_dir / "acme.toml"
    cat_file.write_text("\n".join(parts), encoding="utf-8")
    req = tmp / "req.toml"
    req.write_text(REQUIREMENTS, encoding="utf-8")
    return PrivateCatalog(cat_dir, cat_file, req, weights)
