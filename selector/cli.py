"""The command line: parse options, call library functions, render, map errors to exit codes."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys

# pydantic looks up plugin entry points across every installed distribution the first time a
# model is built: about a sixth of a catalog-only run's time. The CLI uses no pydantic plugin.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from selector import __version__
from selector.errors import InputError, SelectorError
from selector.paths import write_atomic
from selector.report.formats import OutputFormat

if TYPE_CHECKING:
    from rich.console import Console

    from selector.catalog import Catalog

app = typer.Typer(
    name="selector",
    help="Tells an enterprise which open-weight LLM to deploy: filter a sourced catalog, "
    "smoke-test the candidates, rank them transparently.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
catalog_app = typer.Typer(help="Browse and check the model catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@functools.cache
def stderr() -> Console:
    """Diagnostics and progress go to stderr; created on first use (rich.console is not free)."""
    from rich.console import Console

    return Console(stderr=True)


def handles_errors(func: Callable[..., None]) -> Callable[..., None]:
    """Turn a SelectorError into its message on stderr and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except SelectorError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                stderr().print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"selector {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """selector: open-weight LLM selection for enterprises."""


class TableOrJson(str, Enum):
    TABLE = "table"
    JSON = "json"


class TextOrJson(str, Enum):
    TEXT = "text"
    JSON = "json"


TableOrJsonOption = Annotated[TableOrJson, typer.Option("--format", help="Output format.")]
CatalogOption = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer needs Optional here
    typer.Option("--catalog", help="Extra catalog file or directory (repeatable)."),
]


def write_output(text: str, output: Path | None) -> None:
    """Print to stdout, or write `output` atomically so no half-written report is ever left."""
    if output is None:
        sys.stdout.write(text)
        return
    directory = output.resolve().parent
    if not directory.is_dir():
        raise InputError(f"--output {output}: directory {directory} does not exist")
    write_atomic(output, text)


def _load_catalog(extra: list[Path] | None, replace: bool = False) -> Catalog:
    from selector.catalog import load_catalog

    if replace and not extra:
        raise InputError("--replace-catalog needs at least one --catalog PATH")
    return load_catalog(extra or [], replace=replace)


@app.command()
@handles_errors
def recommend(
    requirements: Annotated[Path, typer.Argument(help="Requirements TOML file (SPEC §2).")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.")] = (
        OutputFormat.TABLE
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    no_smoke: Annotated[bool, typer.Option("--no-smoke", help="Skip smoke tests.")] = False,
    catalog: CatalogOption = None,
    replace_catalog: Annotated[
        bool, typer.Option("--replace-catalog", help="Use only the --catalog paths.")
    ] = False,
    models_dir: Annotated[
        Optional[Path], typer.Option("--models-dir", help="Directory of GGUF files to smoke-test.")  # noqa: UP045
    ] = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Show the N best candidates.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rerun cached smoke tests.")] = False,
    no_bundled_model: Annotated[
        bool, typer.Option("--no-bundled-model", help="Ignore the demo GGUF package if installed.")
    ] = False,
) -> None:
    """Filter the catalog, smoke-test the candidates, rank them and report."""
    from selector.hardware import resolve_hardware
    from selector.pipeline import SmokePlan, exit_code
    from selector.pipeline import recommend as run_recommend
    from selector.report.formats import format_report
    from selector.requirements import load_requirements

    cat = _load_catalog(catalog, replace_catalog)
    req = load_requirements(requirements, cat)
    if models_dir is not None and not models_dir.is_dir():
        raise InputError(f"--models-dir {models_dir}: not a directory")
    hw = resolve_hardware(req.hardware, cat)
    plan = SmokePlan(
        enabled=req.smoke.enabled and not no_smoke,
        models_dir=models_dir or req.smoke.models_dir,
        use_cache=not no_cache,
        include_demo=not no_bundled_model,
    )
    if plan.enabled:
        from selector.smoke.cli import SmokeProgressLines

        with SmokeProgressLines(stderr()) as progress:
            report = run_recommend(req, cat, hw, plan, progress=progress, top=top)
    else:
        report = run_recommend(req, cat, hw, plan, top=top)
    color = output is None and sys.stdout.isatty()
    width = shutil.get_terminal_size((150, 40)).columns if color else 150
    write_output(format_report(report, fmt, color=color, width=width), output)
    raise typer.Exit(exit_code(report))


@app.command()
@handles_errors
def hardware(
    fmt: TableOrJsonOption = TableOrJson.TABLE,
    catalog: CatalogOption = None,
) -> None:
    """What this machine offers as selector sees it (CPU, RAM, GPUs, free memory)."""
    from selector.hardware import detect_hardware, enrich_detected

    profile = enrich_detected(detect_hardware(), _load_catalog(catalog))
    if fmt is TableOrJson.JSON:
        sys.stdout.write(profile.model_dump_json(indent=2) + "\n")
        return
    from rich.console import Console

    out = Console()
    out.print(
        f"CPU: {profile.cpu_model} ({profile.cpu_cores} cores, {profile.cpu_threads} threads)"
    )
    out.print(f"RAM: {profile.ram_gb:g} GB total, {profile.ram_available_gb:g} GB available")
    if not profile.gpus:
        out.print("GPU: none found — models run on the CPU from system RAM", markup=False)
    for g in profile.gpus:
        bw = f", {g.bandwidth_gb_s:g} GB/s" if g.bandwidth_gb_s else ""
        out.print(
            f"GPU: {g.count}x {g.model}, {g.vram_gb:g} GB VRAM ({g.free_vram_gb} GB free){bw}"
        )
    for note in profile.notes:
        out.print(f"Note: {note}", markup=False)


@app.command()
@handles_errors
def schema() -> None:
    """Print the JSON Schema of the requirements file (generated from its models)."""
    from selector.requirements import requirements_json_schema

    sys.stdout.write(json.dumps(requirements_json_schema(), indent=2) + "\n")


@catalog_app.command("list")
@handles_errors
def catalog_list(
    fmt: TableOrJsonOption = TableOrJson.TABLE,
    catalog: CatalogOption = None,
) -> None:
    """One line (or JSON object) per model variant."""
    from selector.catalog.views import catalog_rows, format_catalog_table

    cat = _load_catalog(catalog)
    rows = catalog_rows(cat)
    if fmt is TableOrJson.JSON:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        sys.stdout.write(format_catalog_table(rows, color=sys.stdout.isatty()))


@catalog_app.command("show")
@handles_errors
def catalog_show(
    model_id: Annotated[str, typer.Argument(help="Catalog id, e.g. qwen3-30b-a3b.")],
    fmt: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.TEXT,
    catalog: CatalogOption = None,
) -> None:
    """Every fact the catalog holds about one model, with its license and sources."""
    from selector.catalog.views import format_model_detail

    cat = _load_catalog(catalog)
    model = cat.model(model_id)
    if fmt is TextOrJson.JSON:
        data = model.model_dump(mode="json")
        data["license_terms"] = cat.licenses[model.license].model_dump(mode="json")
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(format_model_detail(model, cat.licenses[model.license]))


@catalog_app.command("validate")
@handles_errors
def catalog_validate(
    path: Annotated[
        Optional[Path], typer.Argument(help="Catalog file or directory; default: the shipped one.")  # noqa: UP045
    ] = None,
) -> None:
    """Check schema, unique and known ids, sources and internal consistency."""
    from selector.catalog.checks import validate_catalog

    result = validate_catalog([path] if path else None, include_builtin=True)
    for problem in result.problems:
        stderr().print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(2)
    typer.echo(result.summary())


def _register_smoke() -> None:
    from selector.smoke.cli import smoke_command

    app.command("smoke", help="Run the probe suite on one GGUF file or endpoint.")(
        handles_errors(smoke_command)
    )


_register_smoke()


def main() -> None:
    """Console-script entry point; SIGTERM/SIGHUP during a smoke run end it by that signal,
    after its child and temporary folder are gone (selector.smoke.signals)."""
    from selector.smoke.signals import Terminated, die_of

    try:
        app()
    except Terminated as exc:
        die_of(exc)
