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
from selector.paths import check_output, write_output_file
from selector.report.formats import OutputFormat

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from selector.catalog import Catalog
    from selector.pipeline import SmokePlan
    from selector.smoke.interface import SmokeResult

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

    return Console(stderr=True, emoji=False)  # `:name:` in a file name is text, not an emoji


def handles_errors(func: Callable[..., None]) -> Callable[..., None]:
    """Turn a SelectorError into its message on stderr and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except SelectorError as exc:
            from selector.textsafe import clean

            # file names and values in messages come from outside: controls made visible
            for line in str(exc).splitlines() or [type(exc).__name__]:
                stderr().print(
                    f"error: {clean(line)}", markup=False, highlight=False, soft_wrap=True
                )
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
    """Print to stdout, or write `output` (atomically for a file; see write_output_file)."""
    if output is None:
        sys.stdout.write(text)
        return
    write_output_file(output, text)


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
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the report here (atomically; an existing file keeps its permissions; "
            "a device or FIFO is written through).",
        ),
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

    if output is not None:
        check_output(output)  # before the run, not after it
    cat = _load_catalog(catalog, replace_catalog)
    req = load_requirements(requirements, cat)
    if models_dir is not None:
        from selector.paths import expand_user

        models_dir = expand_user(models_dir, "--models-dir")
        if not models_dir.is_dir():
            raise InputError(f"--models-dir {models_dir}: not a directory")
    hw = resolve_hardware(req.hardware, cat)
    plan = SmokePlan(
        enabled=req.smoke.enabled and not no_smoke,
        models_dir=models_dir or req.smoke.models_dir,
        use_cache=not no_cache,
        include_demo=not no_bundled_model,
    )
    if plan.enabled:
        with _smoke_progress(plan):
            report = run_recommend(req, cat, hw, plan, top=top)
    else:
        report = run_recommend(req, cat, hw, plan, top=top)
    color = output is None and sys.stdout.isatty()
    width = shutil.get_terminal_size((150, 40)).columns if color else 150
    write_output(format_report(report, fmt, color=color, width=width), output)
    raise typer.Exit(exit_code(report))


def _smoke_progress(plan: SmokePlan) -> Progress:
    """A Rich progress display on stderr fed by the smoke stage's callbacks."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from selector.textsafe import one_line

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),  # reasons come from servers
        TimeElapsedColumn(),
        console=stderr(),
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def on_start(model_id: str, backend: str) -> None:
        tasks[model_id] = progress.add_task(one_line(f"smoke {model_id} ({backend})"), total=1)

    def on_done(model_id: str, result: SmokeResult) -> None:
        task = tasks.get(model_id)
        label = f"smoke {model_id}: {result.status.value}"
        if result.status.value in ("passed", "failed"):
            label += f" {result.probes_passed}/{result.probes_total}"
            label += f", {result.decode_tokens_per_s:.1f} tok/s"
        elif result.reason:
            label += f" ({result.reason})"
        if result.cached:
            label += " [cached]"
        label = one_line(label, 300)
        if task is None:
            tasks[model_id] = progress.add_task(label, total=1, completed=1)
        else:
            progress.update(task, description=label, completed=1)

    plan.on_start, plan.on_done = on_start, on_done
    return progress


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

    from selector.textsafe import rich_text

    out = Console()

    def say(text: str) -> None:  # CPU and GPU names come from /proc and nvidia-smi: data
        out.print(rich_text(text), highlight=False)

    say(f"CPU: {profile.cpu_model} ({profile.cpu_cores} cores, {profile.cpu_threads} threads)")
    say(f"RAM: {profile.ram_gb:g} GB total, {profile.ram_available_gb:g} GB available")
    if not profile.gpus:
        say("GPU: none found — models run on the CPU from system RAM")
    for g in profile.gpus:
        bw = f", {g.bandwidth_gb_s:g} GB/s" if g.bandwidth_gb_s else ""
        say(f"GPU: {g.count}x {g.model}, {g.vram_gb:g} GB VRAM ({g.free_vram_gb} GB free){bw}")
    for note in profile.notes:
        say(f"Note: {note}")


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
    from selector.textsafe import clean

    for problem in result.problems:
        stderr().print(f"error: {clean(problem)}", markup=False, highlight=False, soft_wrap=True)
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
    """Console-script entry point."""
    app()
