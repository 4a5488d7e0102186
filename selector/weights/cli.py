"""`selector models`, `selector fetch` and the `recommend --fetch-top` step: options, progress on
stderr, rendering. The work is in selector/weights/ (huggingface_hub is imported by fetch.py
only when a download is asked for)."""

from __future__ import annotations

import dataclasses
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from selector.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from selector.catalog import Catalog
    from selector.hardware import HardwareProfile
    from selector.pipeline import SmokePlan
    from selector.requirements import Requirements


class ModelsFormat(str, Enum):
    TABLE = "table"
    JSON = "json"


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def models_command(
    fmt: Annotated[ModelsFormat, typer.Option("--format", help="Output format.")] = (
        ModelsFormat.TABLE
    ),
    models_dir: Annotated[
        Optional[list[Path]],  # noqa: UP045 - typer needs Optional
        typer.Option(
            "--models-dir", metavar="DIR", help="Also look in this directory (repeatable)."
        ),
    ] = None,
    catalog: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option(
            "--catalog", metavar="PATH", help="Extra catalog file or directory (repeatable)."
        ),
    ] = None,
    no_hash: Annotated[
        bool,
        typer.Option(
            "--no-hash",
            metavar="",
            help="Never read a whole file; use only remembered hashes.",
        ),
    ] = False,
) -> None:
    """The GGUF weights this machine holds (Hugging Face cache, llama.cpp, Ollama, LM Studio,
    --models-dir), matched to catalog variants, with their hash verified / unknown / mismatch."""
    from selector.catalog import load_catalog
    from selector.weights.discover import find_weights
    from selector.weights.model import Candidate
    from selector.weights.views import models_json, models_table

    dirs = list(models_dir or [])
    for d in dirs:
        if not d.expanduser().is_dir():
            raise InputError(f"--models-dir {d}: not a directory")
    cat = load_catalog(catalog or [])
    if not sys.stderr.isatty():  # no spinner to draw: do not pay for importing rich
        inv = find_weights(cat, models_dirs=dirs, hashing=not no_hash)
    else:
        from rich.markup import escape

        with _err().status("looking for GGUF weights", spinner="dots") as status:

            def on_file(cand: Candidate) -> None:
                status.update(f"identifying {escape(str(cand.path))}")

            inv = find_weights(cat, models_dirs=dirs, hashing=not no_hash, on_file=on_file)
    if fmt is ModelsFormat.JSON:
        sys.stdout.write(models_json(inv))
    else:
        from selector.tables import output_width

        sys.stdout.write(models_table(inv, color=sys.stdout.isatty(), width=output_width()))


def fetch_command(
    model_id: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_ID", help="Catalog id, e.g. gemma-3-270m.", show_default=False
        ),
    ],
    quant: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--quant",
            metavar="QUANT",
            help="Quantization (default: the only one, else Q4_K_M).",
        ),
    ] = None,
    catalog: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option(
            "--catalog", metavar="PATH", help="Extra catalog file or directory (repeatable)."
        ),
    ] = None,
) -> None:
    """Download a catalog variant's pinned GGUF artifact into the Hugging Face cache and verify
    its size and sha256. Prints the local path; HF_ENDPOINT and HF_HUB_OFFLINE are honoured."""
    from selector.catalog import load_catalog
    from selector.weights.artifacts import artifact_for_fetch
    from selector.weights.fetch import HubSettings, fetch_artifact

    cat = load_catalog(catalog or [])
    art = artifact_for_fetch(cat, model_id, quant)
    settings = HubSettings.from_env()
    console = _err()
    size = f"{art.size_bytes / 2**30:.2f} GB" if art.size_bytes else "size unknown"
    rev = art.revision or "main (unpinned)"
    _say(
        console,
        f"fetching {art.repo}@{rev}: {', '.join(f.name for f in art.files)} ({size}) "
        f"from {settings.where} into {settings.cache_dir}",
    )
    result = fetch_artifact(art, settings)
    for note in result.notes:
        _say(console, f"note: {note}")
    for f in result.files:
        state = "verified" if f.verified else "not verified (no pinned sha256)"
        _say(console, f"{f.name}: {f.size_bytes:,} bytes, sha256 {f.sha256} {state}")
    sys.stdout.write(f"{result.path}\n")


def fetch_top_step(
    plan: SmokePlan,
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    n: int,
    *,
    yes: bool,
) -> SmokePlan:
    """Plan, show, confirm and run `--fetch-top N`; the plan again, with what was fetched."""
    from selector.weights.fetch import HubSettings
    from selector.weights.fetch_top import confirm_fetch_top, plan_fetch_top, run_fetch_top

    settings = HubSettings.from_env()
    top = plan_fetch_top(req, catalog, hw, n, settings=settings)
    console = _err()
    _say(console, f"--fetch-top {n}: the best candidates that fit this machine")
    for line in top.lines():
        _say(console, f"  {line}")

    def ask(question: str) -> bool:
        return typer.confirm(question, default=False, err=True)

    confirm_fetch_top(top, yes=yes, interactive=sys.stdin.isatty(), ask=ask)
    result = run_fetch_top(
        top,
        settings,
        on_start=lambda item: _say(console, f"fetching {item.model_id}: {item.artifact.repo}"),
    )
    for model_id, why in result.failures.items():
        _say(console, f"fetch {model_id} failed: {why}")
    for note in result.notes:
        _say(console, f"note: {note}")
    return dataclasses.replace(
        plan,
        fetched={**plan.fetched, **result.fetched},
        fetch_failures={**plan.fetch_failures, **result.failures},
    )
