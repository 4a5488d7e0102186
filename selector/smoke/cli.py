"""`selector smoke`: parse the options, call `selector.smoke_stage.smoke_one`, render.

Also the smoke progress display `recommend` uses (`SmokeProgressLines`). llama_cpp and httpx
are imported by the backends when a run needs them, so `selector --help` stays fast.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from selector.errors import ExitCode
from selector.smoke.interface import SmokeResult, SmokeSettings, SmokeStatus
from selector.vocab import Tuning

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID


class SmokeFormat(str, Enum):
    TABLE = "table"
    JSON = "json"


def smoke_command(
    model: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional
        typer.Argument(help="GGUF file to test (omit with --endpoint).", show_default=False),
    ] = None,
    endpoint: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--endpoint", help="OpenAI-compatible base URL, e.g. http://host:8080/v1"),
    ] = None,
    served_model: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--model", help="Model name the endpoint serves."),
    ] = None,
    api_key_env: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--api-key-env", help="Environment variable holding the endpoint's API key."),
    ] = None,
    output_format: Annotated[
        SmokeFormat, typer.Option("--format", help="table or json (the smoke object).")
    ] = SmokeFormat.TABLE,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=64, help="Context size to load.")] = 2048,
    threads: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--threads", min=1, max=1 << 16, help="CPU threads (default: physical cores)."
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, max=7 * 86400, help="Seconds before the run is killed."),
    ] = 120,
    tuning: Annotated[
        Optional[Tuning],  # noqa: UP045
        typer.Option("--tuning", help="base or instruct (default: catalog, else GGUF metadata)."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rerun even if cached.")] = False,
    catalog: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--catalog", help="Extra catalog file or directory (repeatable)."),
    ] = None,
) -> None:
    """Run the probe suite on one model: real load, measured speed and memory, every probe."""
    from rich.console import Console

    from selector.smoke_stage import smoke_one

    err = Console(stderr=True)
    with _status(err, f"smoke-testing {model or served_model}") as status:
        run = smoke_one(
            model=model,
            endpoint=endpoint,
            served_model=served_model,
            api_key_env=api_key_env,
            tuning=tuning,
            settings=SmokeSettings(n_ctx=n_ctx, threads=threads, timeout_s=timeout),
            use_cache=not no_cache,
            catalog_paths=catalog,
            on_wait=status.say,
        )
    result = run.result
    if output_format is SmokeFormat.JSON:
        payload = {
            **result.model_dump(mode="json"),
            **run.extra,
            "settings": run.settings.model_dump(mode="json")
            | {"threads": result.threads or threads},
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _render_table(result, run.extra)
    if result.setup_error:  # the run's problem, not the model's: a usage error, said whole
        from selector.textsafe import clean

        err.print(f"error: {clean(result.reason)}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.BAD_INPUT)
    raise typer.Exit(ExitCode.OK if result.status is SmokeStatus.PASSED else ExitCode.NONE_SURVIVES)


class _status:
    """A spinner on stderr while the run lasts (nothing on a non-terminal); `say` prints a line
    (waiting for another selector's local run) whole, above the spinner."""

    def __init__(self, console: Console, text: str) -> None:
        self.console = console
        self.text = text
        self._cm: Any = None

    def __enter__(self) -> _status:
        if self.console.is_terminal:
            from selector.textsafe import rich_text

            self._cm = self.console.status(rich_text(self.text))  # a path or name: not markup
            self._cm.__enter__()
        return self

    def say(self, message: str) -> None:
        from selector.textsafe import clean

        self.console.print(clean(message), markup=False, highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


def _num(value: float | None, fmt: str, unit: str) -> str:
    """A measured figure, or '-' where nothing was measured (never a made-up 0)."""
    return "-" if value is None else f"{value:{fmt}} {unit}"


def speed_summary(result: SmokeResult) -> str:
    """Decode speed with how it was taken: '41.2 tokens/s (median of 3 x 64 tokens, spread 4%)'."""
    if result.decode_tokens_per_s is None:
        return "-"
    text = f"{result.decode_tokens_per_s:.1f} tokens/s"
    speed = result.speed
    if speed is None:
        return text
    spread = f", spread {speed.spread:.0%}" if speed.spread is not None else ""
    text += f" (median of {speed.runs} x {speed.tokens_per_run} tokens{spread})"
    if not speed.usable:
        text += f"; not used: {speed.why_not_usable}"
    return text


def _render_table(result: SmokeResult, extra: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from selector.textsafe import one_line, rich_text

    # Paths, served names, reasons and answers come from outside: every such cell is a Text
    # (never markup, never emoji codes) with its control characters made visible.
    out = Console(emoji=False)
    colour = {"passed": "green", "failed": "yellow", "error": "red", "skipped": "dim"}
    status = result.status.value
    what = extra.get("model_path") or f"{extra.get('endpoint')} ({extra.get('model')})"
    out.print(rich_text(what, style="bold"), highlight=False)
    label = "setup error" if result.setup_error else status
    cached = " (cached)" if result.cached else ""
    out.print(
        Text.assemble((label, colour[status]), ": ", rich_text(result.reason + cached)),
        highlight=False,
        soft_wrap=True,
    )

    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="dim")
    facts.add_column(overflow="fold")
    fit = extra.get("fit") or {}
    predicted = f" (predicted {fit['memory_gb']:.2f} GiB" if fit.get("memory_gb") else ""
    if predicted and fit.get("llama_cpp_estimate_gb"):
        predicted += f"; llama.cpp estimates {fit['llama_cpp_estimate_gb']:.2f} GiB"
    predicted += ")" if predicted else ""
    peak = _num(result.peak_rss_gb, ".2f", "GiB")
    rows = [
        ("backend", f"{result.backend} {result.llama_cpp_version}".strip()),
        ("catalog id", str(extra.get("catalog_id") or "-")),
        ("tuning", str(extra.get("tuning") or "-")),
        ("quantization", result.quantization or "-"),
        ("sha256", result.model_sha256 or "-"),
        ("n_ctx / threads", f"{result.n_ctx or '-'} / {result.threads or '-'}"),
        ("load time", _num(result.load_time_s, ".2f", "s")),
        ("time to first token", _num(result.time_to_first_token_ms, ".0f", "ms")),
        ("prefill", _num(result.prefill_tokens_per_s, ".1f", "tokens/s")),
        ("decode", speed_summary(result)),
        ("peak memory", peak + (predicted if peak != "-" else "")),
        ("memory bound", _num(result.memory_limit_gb, ".3g", "GiB")),
        ("suite / wall time", f"v{result.suite_version} / {result.wall_time_s:.1f} s"),
    ]
    if result.speed is not None and result.speed.busy_detail:
        rows.append(("machine", result.speed.busy_detail))
    for key, value in rows:
        facts.add_row(key, rich_text(value))
    out.print(facts)
    for note in result.notes:
        out.print(Text(f"note: {note}"), soft_wrap=True)
    if result.probes:
        table = Table(title=f"probes: {result.probes_passed}/{result.probes_total} passed")
        for col in ("probe", "kind", "result", "answer", "why"):
            table.add_column(col, overflow="fold")
        for p in result.probes:
            mark = (
                Text("pass", style="green")
                if p.passed
                else (Text("error", style="red") if p.error else Text("fail", style="yellow"))
            )
            answer = one_line(p.output, 71)
            table.add_row(
                rich_text(p.id),
                rich_text(p.kind),
                mark,
                Text(answer),
                rich_text(p.error or p.detail),
            )
        out.print(table)


# -- `recommend`'s progress display ---------------------------------------------------------
def progress_label(model_id: str, result: SmokeResult) -> str:
    """One finished smoke run, in a line: verdict, counts, speed, or the cause in full."""
    label = f"smoke {model_id}: "
    if result.setup_error:
        label += f"not run ({result.reason})"
    elif result.status.value in ("passed", "failed"):
        label += f"{result.status.value} {result.probes_passed}/{result.probes_total}"
        if result.decode_tokens_per_s is not None:
            label += f", {result.decode_tokens_per_s:.1f} tok/s"
            if result.speed is not None and not result.speed.usable:
                label += f" (not used: {result.speed.why_not_usable})"
    else:
        label += result.status.value + (f" ({result.reason})" if result.reason else "")
    return label + (" [cached]" if result.cached else "")


class SmokeProgressLines:
    """`recommend`'s smoke progress on stderr (a SmokeProgress).

    On a terminal a spinner per running model, and each finished model as a whole line above
    them; elsewhere (a pipe, a CI log) plain lines. A line is wrapped, never cut to the width,
    so a cause such as a refused connection or an unset key variable is always read in full.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Any = None
        self._tasks: dict[str, TaskID] = {}
        if console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )

    def __enter__(self) -> SmokeProgressLines:
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def started(self, model_id: str, backend: str) -> None:
        if self._progress is not None:
            self._tasks[model_id] = self._progress.add_task(f"smoke {model_id} ({backend})")
        else:
            self._line(f"smoke {model_id} ({backend}): started")

    def waiting(self, model_id: str, message: str) -> None:
        self._line(f"smoke {model_id}: {message}")

    def finished(self, model_id: str, result: SmokeResult) -> None:
        task = self._tasks.pop(model_id, None)
        if self._progress is not None and task is not None:
            self._progress.remove_task(task)
        self._line(progress_label(model_id, result))
