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

from selector.errors import InputError
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
        typer.Option("--threads", min=1, help="CPU threads (default: physical cores)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds before the run is killed.")
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
    from selector.hardware import detect_hardware
    from selector.smoke.cache import SmokeCache
    from selector.smoke.runner import run_suite

    settings = smoke_settings(
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
    hardware = detect_hardware()
    extra: dict[str, Any] = {}
    if endpoint is not None:
        if model is not None:
            raise InputError("give either MODEL or --endpoint, not both")
        if not served_model:
            raise InputError("--endpoint needs --model NAME (the model the server serves)")
        from selector.smoke.endpoint import EndpointBackend

        chosen, catalog_id = endpoint_tuning(served_model, tuning, catalog)
        backend: Any = EndpointBackend(
            endpoint,
            served_model,
            api_key_env=api_key_env,
            tuning=chosen,
            timeout_s=timeout,
        )
        extra.update(
            model_path=None,
            endpoint=endpoint,
            model=served_model,
            catalog_id=catalog_id,
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
            "settings": settings.model_dump(mode="json")
            | {"threads": result.threads or threads, "suites": [str(s) for s in suites or []]},
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        from selector.smoke.render import render_smoke

        render_smoke(result, extra)
    raise typer.Exit(0 if result.status is SmokeStatus.PASSED else 1)


def smoke_settings(
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


def endpoint_tuning(
    served_model: str, tuning: Tuning | None, catalog_paths: list[Path] | None
) -> tuple[Tuning, str | None]:
    """Base or instruct for a served model: --tuning, else the catalog entry whose id (or GGUF
    file name) is the served name, else instruct (what servers mostly serve). A base model
    sent chat requests is judged on a format it was never trained for."""
    from selector.catalog import load_catalog

    cat = load_catalog(catalog_paths or [])
    name = served_model.strip().lower()
    base = name.rsplit("/", 1)[-1]  # llama_cpp.server serves a model under its file path
    stems = {name, base, name.removesuffix(".gguf"), base.removesuffix(".gguf")}
    found = None
    for entry in cat.models.values():
        files = {f.lower().removesuffix(".gguf") for f in entry.gguf_files}
        if entry.id in stems or files & stems:
            found = entry
            break
    if tuning is not None:
        return tuning, found.id if found else None
    if found is not None:
        return found.tuning, found.id
    return Tuning.INSTRUCT, None


def _local_backend(
    model: Path, tuning: Tuning | None, catalog_paths: list[Path] | None
) -> tuple[Any, dict[str, Any]]:
    """The llama.cpp backend for a file, its tuning from the catalog entry when one matches."""
    from selector.catalog import load_catalog
    from selector.smoke.discovery import match_entry, read_gguf_metadata
    from selector.smoke.llamacpp import LlamaCppBackend

    path = model.expanduser()
    if not path.is_file():
        raise InputError(f"{model}: no such file")
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
        from selector.fit.smoke_link import SMOKE_PROMPT_TOKENS, predict_smoke

        fit = predict_smoke(
            hardware,
            result.n_ctx or 2048,
            gguf_path=path,
            quantization=result.quantization or "Q4_K_M",
            # the long-context probes are the run's longest prompts when they ran
            prompt_tokens=max(result.long_context_tokens, SMOKE_PROMPT_TOKENS),
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
    from selector.smoke.runtime import child_runtime

    runtime = child_runtime(result.n_ctx or 2048)
    estimate = llama_cpp_estimate(
        path,
        runtime.n_ctx,
        n_batch=runtime.n_batch,
        n_ubatch=runtime.n_ubatch,
        swa_full=runtime.swa_full,
        flash_attn=runtime.flash_attn,
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
            self._cm = self.console.status(self.text)
            self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)
