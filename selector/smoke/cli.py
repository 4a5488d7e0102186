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

from selector.errors import ExitCode, InputError
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
    needs: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--needs",
            help="Probe only these capabilities besides instruction-following and "
            "structured-output (repeatable; default: every capability).",
        ),
    ] = None,
    suites: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--suite", help="Your own probe file (TOML; repeatable)."),
    ] = None,
    context_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--context-tokens",
            min=256,
            help="Length of the long-context probes (default: what --n-ctx holds).",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Runs of the suite (needs --temperature > 0).")
    ] = 1,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0, max=2, help="Sampling temperature (0: greedy).")
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first run.")] = 0,
) -> None:
    """Run the probe suite on one model: real load, measured speed and memory, every probe."""
    from rich.console import Console

    from selector.smoke_stage import smoke_one

    settings = settings_from_options(
        n_ctx=n_ctx,
        threads=threads,
        timeout=timeout,
        needs=needs,
        suites=suites or [],
        context_tokens=context_tokens,
        repeats=repeats,
        temperature=temperature,
        seed=seed,
    )
    err = Console(stderr=True)
    with _status(err, f"smoke-testing {model or served_model}") as status:
        run = smoke_one(
            model=model,
            endpoint=endpoint,
            served_model=served_model,
            api_key_env=api_key_env,
            tuning=tuning,
            settings=settings,
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
            | {"threads": result.threads or threads, "suites": [str(s) for s in suites or []]},
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        from selector.smoke.render import render_smoke

        render_smoke(result, run.extra)
    if result.setup_error:  # the run's problem, not the model's: a usage error, said whole
        from selector.textsafe import clean

        err.print(f"error: {clean(result.reason)}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.BAD_INPUT)
    raise typer.Exit(ExitCode.OK if result.status is SmokeStatus.PASSED else ExitCode.NONE_SURVIVES)


def settings_from_options(
    *,
    n_ctx: int,
    threads: int | None,
    timeout: float,
    needs: list[str] | None,
    suites: list[Path],
    context_tokens: int | None,
    repeats: int,
    temperature: float,
    seed: int,
) -> SmokeSettings:
    """The settings of a `selector smoke` run; bad values are one-line InputErrors."""
    from selector.smoke.probes import BUILTIN_CAPABILITIES, SuitePlan, load_probe_files, plan_for
    from selector.tomlio import did_you_mean

    for need in needs or []:
        if need not in BUILTIN_CAPABILITIES:
            hint = did_you_mean(need, BUILTIN_CAPABILITIES)
            raise InputError(
                f"--needs {need!r}: not a probed capability{hint}; "
                f"choose from {', '.join(BUILTIN_CAPABILITIES)}"
            )
    if repeats > 1 and temperature == 0:
        raise InputError("--repeats > 1 needs --temperature > 0 (greedy answers never vary)")
    if needs is None:
        plan = SuitePlan(
            extra=load_probe_files(suites),
            context_tokens=context_tokens,
            sources=tuple(str(s) for s in suites),
        )
    else:
        plan = plan_for(needs, suites=suites, context_tokens=context_tokens)
    return SmokeSettings(
        n_ctx=n_ctx,
        threads=threads,
        timeout_s=timeout,
        repeats=repeats,
        temperature=temperature,
        seed=seed,
        suite=plan,
    )


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
