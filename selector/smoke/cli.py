"""`selector smoke`: run the probe suite on one GGUF file or one OpenAI-compatible endpoint.

Only option parsing and rendering live here; llama_cpp and httpx are imported by the backends
when a run needs them, so `selector --help` stays fast.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from selector.errors import ExitCode, InputError
from selector.smoke.interface import SmokeResult, SmokeSettings, SmokeStatus
from selector.vocab import Tuning


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
    from selector.hardware import detect_hardware
    from selector.smoke.cache import SmokeCache
    from selector.smoke.runner import run_suite

    settings = SmokeSettings(n_ctx=n_ctx, threads=threads, timeout_s=timeout)
    hardware = detect_hardware()
    extra: dict[str, Any] = {}
    if endpoint is not None:
        if model is not None:
            raise InputError("give either MODEL or --endpoint, not both")
        if not served_model:
            raise InputError("--endpoint needs --model NAME (the model the server serves)")
        from selector.smoke.endpoint import EndpointBackend

        backend: Any = EndpointBackend(
            endpoint,
            served_model,
            api_key_env=api_key_env,
            tuning=tuning or Tuning.INSTRUCT,
            timeout_s=timeout,
        )
        extra.update(
            model_path=None,
            endpoint=endpoint,
            model=served_model,
            tuning=backend.tuning.value,
            fit=None,
        )
    else:
        if model is None:
            raise InputError("give a GGUF file, or --endpoint URL --model NAME")
        backend, extra = _local_backend(model, tuning, catalog)

    cache = None if no_cache else SmokeCache()
    with _status(output_format, f"smoke-testing {model or served_model}"):
        result = run_suite(backend, settings, cache=cache, fingerprint=hardware.fingerprint())
    if extra.get("model_path") is not None:
        extra["fit"] = _predicted_fit(Path(extra["model_path"]), hardware, result, extra)

    if output_format is SmokeFormat.JSON:
        payload = {
            **result.model_dump(mode="json"),
            **extra,
            "settings": settings.model_dump(mode="json") | {"threads": result.threads or threads},
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _render_table(result, extra)
    raise typer.Exit(ExitCode.OK if result.status is SmokeStatus.PASSED else ExitCode.NONE_SURVIVES)


def _local_backend(
    model: Path, tuning: Tuning | None, catalog_paths: list[Path] | None
) -> tuple[Any, dict[str, Any]]:
    """The llama.cpp backend for a file, its tuning from the catalog entry when one matches."""
    from selector.catalog import load_catalog
    from selector.paths import expand_user, regular_file_problem
    from selector.smoke.discovery import match_entry, read_gguf_metadata
    from selector.smoke.llamacpp import LlamaCppBackend

    path = expand_user(model, "model")
    problem = regular_file_problem(path)
    if problem:  # a directory or a FIFO is named as such, not "no such file"
        raise InputError(f"{model}: {problem}")
    info = read_gguf_metadata(path)  # GGUFFormatError (exit 2) for a file that is not a GGUF
    cat = load_catalog(catalog_paths or [])
    by_name = [
        m.id for m in cat.models.values() if path.name.lower() in map(str.lower, m.gguf_files)
    ]
    catalog_id = by_name[0] if len(by_name) == 1 else match_entry(info, cat)[0]
    if tuning is None and catalog_id is not None:
        tuning = cat.models[catalog_id].tuning
    backend = LlamaCppBackend(path, tuning=tuning)
    extra = {
        "model_path": str(path.resolve()),
        "catalog_id": catalog_id,
        "tuning": backend.tuning.value,
        "gguf": {"architecture": info.architecture, "name": info.get("general.name")},
    }
    return backend, extra


def _predicted_fit(
    path: Path, hardware: Any, result: SmokeResult, extra: dict[str, Any]
) -> dict[str, Any] | None:
    """What the fit model predicts for this run's settings, to set beside the measured peak."""
    try:
        from selector.fit.smoke_link import predict_smoke

        fit = predict_smoke(
            hardware,
            result.n_ctx or 2048,
            gguf_path=path,
            quantization=result.quantization or "Q4_K_M",
        )
    except Exception as exc:  # a prediction we cannot make is noted, not fatal
        extra["fit_error"] = f"{type(exc).__name__}: {exc}"
        return None
    fit = fit.model_copy(update={"llama_cpp_estimate_gb": _llama_cpp_cross_check(path, result)})
    return fit.model_dump(mode="json")


def _llama_cpp_cross_check(path: Path, result: SmokeResult) -> float | None:
    """llama.cpp's own no_alloc estimate for the child's settings, where `llama-fit-params` is
    installed (PATH, $SELECTOR_LLAMA_FIT_PARAMS, or the bench build); the llama-cpp-python
    bindings do not expose it."""
    from selector.fit.llama_cpp_check import find_fit_params, llama_cpp_estimate

    if find_fit_params() is None:
        return None
    n_ctx = result.n_ctx or 2048
    estimate = llama_cpp_estimate(
        path,
        n_ctx,
        n_batch=min(512, n_ctx),
        n_ubatch=min(512, n_ctx),
        swa_full=True,
        flash_attn=False,
        n_gpu_layers=0,
        timeout_s=60,
    )
    return round(estimate.total_gb, 3) if estimate else None


class _status:
    """A spinner on stderr while the run lasts (nothing for JSON on a non-terminal)."""

    def __init__(self, fmt: SmokeFormat, text: str) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.text = text
        self._cm: Any = None

    def __enter__(self) -> None:
        if self.console.is_terminal:
            from selector.textsafe import rich_text

            self._cm = self.console.status(rich_text(self.text))  # a path or name: not markup
            self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


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
    cached = " (cached)" if result.cached else ""
    out.print(
        Text.assemble((status, colour[status]), ": ", rich_text(result.reason + cached)),
        highlight=False,
    )

    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="dim")
    facts.add_column()
    fit = extra.get("fit") or {}
    predicted = f" (predicted {fit['memory_gb']:.2f} GiB" if fit.get("memory_gb") else ""
    if predicted and fit.get("llama_cpp_estimate_gb"):
        predicted += f"; llama.cpp estimates {fit['llama_cpp_estimate_gb']:.2f} GiB"
    predicted += ")" if predicted else ""
    rows = [
        ("backend", f"{result.backend} {result.llama_cpp_version}".strip()),
        ("catalog id", str(extra.get("catalog_id") or "-")),
        ("tuning", str(extra.get("tuning") or "-")),
        ("quantization", result.quantization or "-"),
        ("sha256", result.model_sha256 or "-"),
        ("n_ctx / threads", f"{result.n_ctx} / {result.threads}"),
        ("load time", f"{result.load_time_s:.2f} s"),
        ("time to first token", f"{result.time_to_first_token_ms:.0f} ms"),
        ("prefill", f"{result.prefill_tokens_per_s:.1f} tokens/s"),
        ("decode", f"{result.decode_tokens_per_s:.1f} tokens/s"),
        ("peak memory", f"{result.peak_rss_gb:.2f} GiB{predicted}"),
        ("suite / wall time", f"v{result.suite_version} / {result.wall_time_s:.1f} s"),
    ]
    for key, value in rows:
        facts.add_row(key, rich_text(value))
    out.print(facts)
    if result.probes:
        table = Table(title=f"probes: {result.probes_passed}/{result.probes_total} passed")
        for col in ("probe", "kind", "result", "answer", "why"):
            table.add_column(col, overflow="fold")
        for p in result.probes:
            mark = (
                "[green]pass[/]"
                if p.passed
                else ("[red]error[/]" if p.error else "[yellow]fail[/]")
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
