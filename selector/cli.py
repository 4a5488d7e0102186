"""The command line: parse options, call library functions, render, map errors to exit codes."""

from __future__ import annotations

import functools
import gc
import json
import os
import sys

# pydantic looks up plugin entry points across every installed distribution the first time a
# model is built: about a sixth of a catalog-only run's time. The CLI uses no pydantic plugin.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Optional

import typer

from selector import __version__
from selector.errors import ExitCode, InputError, SelectorError
from selector.helptext import HelpGroup, LazyCommand
from selector.paths import check_output, write_output_file
from selector.report.formats import OutputFormat

if TYPE_CHECKING:
    from rich.console import Console

    from selector.catalog import Catalog


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


class RootGroup(HelpGroup):
    """`selector`: its own commands, and those of the smoke and weights packages, imported
    only when one of them runs (or `selector --help` lists them)."""

    lazy: ClassVar[dict[str, LazyCommand]] = {
        "smoke": LazyCommand(
            "selector.smoke.cli",
            "smoke_command",
            "Run the probe suite on one GGUF file or endpoint.",
            after="verify",
        ),
        "models": LazyCommand(
            "selector.weights.cli",
            "models_command",
            "The GGUF weights this machine holds, matched to the catalog.",
            after="explain",
        ),
        "fetch": LazyCommand(
            "selector.weights.cli",
            "fetch_command",
            "Download a catalog variant's pinned GGUF and verify its sha256.",
            after="models",
        ),
    }

    def wrap(self, func: Callable[..., None]) -> Callable[..., None]:
        return handles_errors(func)


app = typer.Typer(
    name="selector",
    help="Tells an enterprise which open-weight LLM to deploy: filter a sourced catalog, "
    "smoke-test the candidates, rank them transparently.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    cls=RootGroup,
)
catalog_app = typer.Typer(
    help="Browse and check the model catalog.", no_args_is_help=True, cls=HelpGroup
)
app.add_typer(catalog_app, name="catalog")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"selector {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, metavar="", help="Show the version."
        ),
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
TextOrJsonOption = Annotated[TextOrJson, typer.Option("--format", help="Output format.")]
CatalogOption = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--catalog",
        metavar="PATH",
        help="Extra catalog file or directory (repeatable; docs/catalog.md).",
    ),
]
ReplaceCatalogOption = Annotated[
    bool,
    typer.Option(
        "--replace-catalog",
        metavar="",
        help="Use the --catalog paths' models instead of the shipped ones (the shipped "
        "licenses and GPUs stay there for them to name).",
    ),
]
RequirementsArgument = Annotated[
    Path,
    typer.Argument(
        metavar="REQ.toml",
        help="Requirements file (docs/requirements.md; `selector schema` prints its JSON Schema).",
        show_default=False,
    ),
]
NoSmokeOption = Annotated[bool, typer.Option("--no-smoke", metavar="", help="Skip smoke tests.")]
ModelsDirOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--models-dir", metavar="DIR", help="Directory of GGUF files to smoke-test."),
]
NoBundledModelOption = Annotated[
    bool,
    typer.Option(
        "--no-bundled-model", metavar="", help="Ignore the demo GGUF package if installed."
    ),
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
    requirements: RequirementsArgument,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.")] = (
        OutputFormat.TABLE
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the report here (atomically; an existing file keeps its permissions; "
            "a device or FIFO is written through).",
        ),
    ] = None,
    no_smoke: NoSmokeOption = False,
    catalog: CatalogOption = None,
    replace_catalog: ReplaceCatalogOption = False,
    models_dir: ModelsDirOption = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, metavar="N", help="Show the N best candidates.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", metavar="", help="Rerun cached smoke tests.")
    ] = False,
    no_bundled_model: NoBundledModelOption = False,
    fetch_top: Annotated[
        int | None,
        typer.Option(
            "--fetch-top",
            min=1,
            metavar="N",
            help="Download the pinned GGUF of the N best candidates that fit this machine, "
            "then smoke-test them (asks first; see --yes).",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", metavar="", help="Do not ask before --fetch-top downloads."),
    ] = False,
) -> None:
    """Filter the catalog, smoke-test the candidates, rank them and report."""
    from selector.hardware import resolve_hardware
    from selector.pipeline import SmokePlan, exit_code
    from selector.pipeline import recommend as run_recommend
    from selector.report.formats import format_report
    from selector.requirements import load_requirements

    if fmt is OutputFormat.HTML:
        from selector.report.html import require_charting

        require_charting()  # before the run, not after its smoke tests
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
    if fetch_top is not None:
        if not plan.enabled:
            raise InputError("--fetch-top fetches weights to smoke-test them: drop --no-smoke")
        from selector.weights.cli import fetch_top_step

        plan = fetch_top_step(plan, req, cat, hw, fetch_top, yes=yes)
    if plan.enabled:
        from selector.smoke.cli import SmokeProgressLines

        with SmokeProgressLines(stderr()) as progress:
            report = run_recommend(
                req, cat, hw, plan, progress=progress, top=top, requirements_path=requirements
            )
    else:
        report = run_recommend(req, cat, hw, plan, top=top, requirements_path=requirements)
    color = output is None and sys.stdout.isatty()
    # a file gets every column; only the table has a width (other formats skip the import)
    width = _width() if output is None and fmt is OutputFormat.TABLE else None
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
    from selector.catalog.views import catalog_as_of, catalog_rows, format_catalog_table

    cat = _load_catalog(catalog)
    rows = catalog_rows(cat)
    if fmt is TableOrJson.JSON:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        as_of = catalog_as_of(cat)
        sys.stdout.write(
            format_catalog_table(rows, color=sys.stdout.isatty(), as_of=as_of, width=_width())
        )


@catalog_app.command("show")
@handles_errors
def catalog_show(
    entry_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A model, license or GPU id, e.g. qwen3-30b-a3b, apache-2.0, L40S.",
            show_default=False,
        ),
    ],
    fmt: TextOrJsonOption = TextOrJson.TEXT,
    catalog: CatalogOption = None,
) -> None:
    """Every fact the catalog holds about one model (with its license), license or GPU."""
    from selector.catalog.views import (
        format_gpu_detail,
        format_license_detail,
        format_model_detail,
        gpu_row,
        license_rows,
    )
    from selector.errors import CatalogError
    from selector.tomlio import did_you_mean

    cat = _load_catalog(catalog)
    data: dict[str, Any]
    if entry_id in cat.models:
        model = cat.model(entry_id)
        lic = cat.licenses[model.license]
        data = model.model_dump(mode="json")
        data["license_terms"] = lic.model_dump(mode="json")
        text = format_model_detail(model, lic)
    elif entry_id in cat.licenses:
        data = next(r for r in license_rows(cat) if r["id"] == entry_id)
        text = format_license_detail(data)
    elif (gpu := cat.find_gpu(entry_id)) is not None:
        data = gpu_row(gpu)
        text = format_gpu_detail(data)
    else:
        hint = did_you_mean(entry_id, [*cat.models, *cat.licenses, *cat.gpus])
        raise CatalogError(f"no model, license or GPU with id {entry_id!r}{hint}")
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if fmt is TextOrJson.JSON else text)


@catalog_app.command("licenses")
@handles_errors
def catalog_licenses(
    fmt: TableOrJsonOption = TableOrJson.TABLE,
    catalog: CatalogOption = None,
) -> None:
    """The licenses the catalog knows: terms, clauses and how many models use each."""
    from selector.catalog.views import format_license_table, license_rows

    _write_rows(license_rows(_load_catalog(catalog)), fmt, format_license_table)


@catalog_app.command("gpus")
@handles_errors
def catalog_gpus(
    fmt: TableOrJsonOption = TableOrJson.TABLE,
    catalog: CatalogOption = None,
) -> None:
    """The GPUs the catalog knows (the names a requirements file's hardware gpus accept)."""
    from selector.catalog.views import format_gpu_table, gpu_rows

    _write_rows(gpu_rows(_load_catalog(catalog)), fmt, format_gpu_table)


def _write_rows(rows: list[dict[str, Any]], fmt: TableOrJson, table: Callable[..., str]) -> None:
    """A catalog listing as JSON rows, or as the table `table` renders for this terminal."""
    if fmt is TableOrJson.JSON:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        sys.stdout.write(table(rows, color=sys.stdout.isatty(), width=_width()))


def _width() -> int | None:
    """The terminal's width on a terminal; None (as wide as the content) when piped, so `| cat`
    cuts nothing (selector/tables.py)."""
    from selector.tables import output_width

    return output_width()


@catalog_app.command("validate")
@handles_errors
def catalog_validate(
    path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            metavar="PATH",
            help="Catalog file or directory; default: the shipped one.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            metavar="",
            help="Also list each unpinned or unhashed artifact (a note, no error).",
        ),
    ] = False,
    replace_catalog: ReplaceCatalogOption = False,
) -> None:
    """Check schema, unique and known ids, sources and internal consistency.

    PATH is checked as `recommend --catalog PATH` reads it: with the shipped catalog, or with
    --replace-catalog as `recommend --catalog PATH --replace-catalog` does.
    """
    from selector.catalog.checks import validate_catalog

    if replace_catalog and path is None:
        raise InputError("--replace-catalog needs the PATH of the catalog that replaces")
    result = validate_catalog(
        [path] if path else None, include_builtin=True, replace=replace_catalog
    )
    from selector.textsafe import clean

    for problem in result.problems:
        stderr().print(f"error: {clean(problem)}", markup=False, highlight=False, soft_wrap=True)
    for note in result.notes if verbose or path else []:
        stderr().print(f"note: {clean(note)}", markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(ExitCode.BAD_INPUT)
    typer.echo(result.summary())


@app.command()
@handles_errors
def lock(
    requirements: RequirementsArgument,
    model_id: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional
        typer.Argument(
            metavar="MODEL_ID",
            help="Shortlisted model to lock (default: the top pick).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write the lock file.")
    ] = Path("selector.lock.json"),
    catalog: CatalogOption = None,
    weights: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--weights",
            metavar="FILE",
            help="The weights file you will deploy: its sha256 and size are locked (it must "
            "match the catalog's pin where there is one).",
        ),
    ] = None,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke",
            metavar="",
            help="Smoke-test the candidates first (off by default: the choice then depends on "
            "the requirements, catalog and hardware alone, so verify can rerun it).",
        ),
    ] = False,
) -> None:
    """Write selector.lock.json for the chosen model: its exact artifact and the inputs."""
    from selector.lock import lock_requirements, lock_text
    from selector.pipeline import SmokePlan

    cat = _load_catalog(catalog)
    plan = SmokePlan(enabled=smoke)
    if smoke:
        from selector.smoke.cli import SmokeProgressLines

        with SmokeProgressLines(stderr()) as progress:
            locked = lock_requirements(
                requirements, cat, model_id, plan=plan, progress=progress, weights=weights
            )
    else:
        locked = lock_requirements(requirements, cat, model_id, plan=plan, weights=weights)
    write_output(lock_text(locked), output)
    art = locked.artifact
    pinned = art.files and all(f.sha256 for f in art.files)
    typer.echo(
        f"wrote {output}: {locked.model_id} at {locked.quantization} ({locked.chosen_as}), "
        + (
            f"artifact {art.files[0].name} sha256 {art.files[0].sha256}"
            if pinned
            else "artifact not pinned: " + (", ".join(art.missing) or "no sha256")
        )
    )
    if not pinned:
        stderr().print(
            "warning: `selector verify` cannot check a file against this lock; give "
            "--weights FILE to lock the file you deploy",
            markup=False,
            highlight=False,
        )


@app.command()
@handles_errors
def verify(
    lock_file: Annotated[
        Path,
        typer.Argument(
            metavar="LOCK.json",
            help="The selector.lock.json to check against.",
            show_default=False,
        ),
    ],
    file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            metavar="FILE", help="Weights file to check (size and sha256).", show_default=False
        ),
    ] = None,
    endpoint: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--endpoint",
            metavar="URL",
            help="OpenAI-compatible base URL to check, e.g. http://host/v1",
        ),
    ] = None,
    served_model: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--model", metavar="NAME", help="Model name the endpoint serves."),
    ] = None,
    api_key_env: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--api-key-env",
            metavar="VAR",
            help="Environment variable holding the endpoint's API key.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=1, metavar="SECONDS", help="Seconds for the endpoint's suite run."
        ),
    ] = 120,
    catalog: CatalogOption = None,
    fmt: TextOrJsonOption = TextOrJson.TEXT,
) -> None:
    """Check a deployment against its lock and say what changed since (exit 0 holds, 1 not)."""
    from selector.lock import load_lock
    from selector.verify import verify as run_verify

    if file is not None and endpoint is not None:
        raise InputError("give either FILE or --endpoint URL --model NAME, not both")
    locked = load_lock(lock_file)
    result = run_verify(
        locked,
        _load_catalog(catalog),
        file=file,
        endpoint=endpoint,
        served_model=served_model,
        api_key_env=api_key_env,
        timeout_s=timeout,
    )
    if fmt is TextOrJson.JSON:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        from rich.console import Console

        out = Console(highlight=False, soft_wrap=True)
        out.print(
            f"{lock_file}: {locked.model_id} at {locked.quantization}, locked {locked.created_at}",
            markup=False,
        )
        for check in result.checks:
            out.print(
                f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}", markup=False
            )
        if result.changes:
            out.print("Changes since the lock:", markup=False)
            for change in result.changes:
                out.print(f"  - {change}", markup=False)
        out.print("the lock holds" if result.holds else "the lock does NOT hold", markup=False)
    raise typer.Exit(ExitCode.OK if result.holds else ExitCode.NONE_SURVIVES)


@app.command()
@handles_errors
def explain(
    model_id: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_ID",
            help="Catalog id of the model, e.g. qwen3-30b-a3b.",
            show_default=False,
        ),
    ],
    requirements: RequirementsArgument,
    fmt: TextOrJsonOption = TextOrJson.TEXT,
    no_smoke: NoSmokeOption = False,
    catalog: CatalogOption = None,
    replace_catalog: ReplaceCatalogOption = False,
    models_dir: ModelsDirOption = None,
    no_bundled_model: NoBundledModelOption = False,
) -> None:
    """One model under these requirements: filters, score terms, rank, what would admit it.

    Each filter it passed or failed with the figures, each score term with its basis, its
    rank, and for an excluded model the smallest requirement changes that would admit it,
    found by re-running the filter on changed requirements.
    """
    from selector.decision.explain import explain as run_explain
    from selector.hardware import resolve_hardware
    from selector.pipeline import SmokePlan
    from selector.pipeline import recommend as run_recommend
    from selector.requirements import load_requirements

    cat = _load_catalog(catalog, replace_catalog)
    cat.model(model_id)  # an unknown id fails before any smoke test runs
    req = load_requirements(requirements, cat)
    if models_dir is not None and not models_dir.is_dir():
        raise InputError(f"--models-dir {models_dir}: not a directory")
    hw = resolve_hardware(req.hardware, cat)
    plan = SmokePlan(
        enabled=req.smoke.enabled and not no_smoke,
        models_dir=models_dir or req.smoke.models_dir,
        include_demo=not no_bundled_model,
    )
    if plan.enabled:
        from selector.smoke.cli import SmokeProgressLines

        with SmokeProgressLines(stderr()) as progress:
            report = run_recommend(req, cat, hw, plan, progress=progress)
    else:
        report = run_recommend(req, cat, hw, plan)
    result = run_explain(model_id, report, req, cat, hw)
    if fmt is TextOrJson.JSON:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        from selector.report.decision_text import format_explanation

        sys.stdout.write(format_explanation(result))


def main() -> None:
    """Console-script entry point; SIGTERM/SIGHUP during a smoke run end it by that signal,
    after its child and temporary folder are gone (selector.smoke.signals); stdout closed
    early (`| head`) ends it quietly with exit 141 (selector.brokenpipe)."""
    from selector.brokenpipe import StdoutWatch, quiet_exit
    from selector.smoke.signals import Terminated, die_of

    stdout = StdoutWatch()
    try:
        app()
    except Terminated as exc:
        die_of(exc)
    except BrokenPipeError:
        raise quiet_exit() from None
    except SystemExit:
        if stdout.broke():
            raise quiet_exit() from None
        raise
    finally:
        # Every object the run made lives until exit, where CPython's last collection would
        # walk them all (about 20 ms of a catalog-only run, bench/startup.py): frozen, they
        # are freed with the process without being scanned.
        gc.freeze()
