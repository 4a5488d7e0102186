"""Running the suite on one backend or many: cache first, never raise for one candidate.

Local llama.cpp backends run one at a time (each wants the machine's RAM and cores to itself),
and one at a time across selector processes too (`selector.smoke.lock`); backends that say
`parallel_safe` (endpoints) run concurrently, alongside the local ones.

What is cached is evidence about the model: a passed or failed verdict whose speed was not
taken on a busy machine. An error, a setup error and a busy measurement are rerun next time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from selector import __version__
from selector.smoke.cache import SmokeCache, cache_key
from selector.smoke.cancel import cancel_requests, reset_cancel
from selector.smoke.interface import (
    SmokeBackend,
    SmokeProgress,
    SmokeResult,
    SmokeSettings,
    SmokeStatus,
)
from selector.smoke.lock import LockTimeout, local_run_lock
from selector.smoke.probes import SUITE_VERSION

# Only results that say something about the model are cached; an error may be the machine's.
_CACHEABLE = (SmokeStatus.PASSED, SmokeStatus.FAILED)


def cacheable(result: SmokeResult) -> bool:
    """A verdict about the model, not about this run's circumstances."""
    if result.status not in _CACHEABLE or result.setup_error:
        return False
    return not (result.speed is not None and result.speed.busy)


@dataclass(frozen=True)
class SmokeJob:
    """One candidate to smoke-test: its catalog id and the backend that reaches its weights."""

    model_id: str
    backend: SmokeBackend
    settings: SmokeSettings | None = None


def hardware_fingerprint() -> str:
    """This machine's identity for the cache (detected once per process)."""
    from selector.hardware import this_machine

    return this_machine().fingerprint()


def result_key(
    backend: SmokeBackend, settings: SmokeSettings, fingerprint: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """The cache key for this backend and settings, with the parts it is made of."""
    model_key = backend.cache_key()
    if model_key is None:
        return None
    # defaults made explicit (llama.cpp: threads = physical cores), so `smoke` and `recommend`
    # share entries whether or not --threads spelled the default out
    settings = backend.resolve(settings)
    parts = {
        "model": model_key,
        "suite_version": SUITE_VERSION,
        "suite": settings.suite.digest(),  # the probes themselves, a team's own files included
        "selector_version": __version__,  # how figures are measured changes between releases
        "hardware": fingerprint if fingerprint is not None else hardware_fingerprint(),
        "settings": settings.model_dump(mode="json"),
    }
    return cache_key(parts), parts


def run_suite(
    backend: SmokeBackend,
    settings: SmokeSettings,
    *,
    cache: SmokeCache | None,
    fingerprint: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> SmokeResult:
    """One backend's result: from the cache when present, else run (and cache a verdict).

    A local backend runs under the machine-wide lock; `on_wait` hears when it has to wait.
    """
    started = time.perf_counter()
    keyed = None
    try:
        keyed = result_key(backend, settings, fingerprint) if cache is not None else None
    except Exception:  # a key we cannot compute means no caching, not a failed candidate
        keyed = None
    if cache is not None and keyed is not None:
        hit = cache.get(keyed[0])
        if hit is not None:
            return hit.model_copy(update={"cached": True})
    local = not backend.parallel_safe
    try:
        with local_run_lock(on_wait=on_wait) if local else contextlib.nullcontext():
            result = backend.run(settings)
    except LockTimeout as exc:
        result = SmokeResult.error(str(exc), setup=True, backend=backend.name)
    except Exception as exc:  # a backend bug must not take the run down either
        result = SmokeResult.error(f"{type(exc).__name__}: {exc}", backend=backend.name)
    if not result.suite_version:
        result = result.model_copy(update={"suite_version": SUITE_VERSION})
    if not result.wall_time_s:
        result = result.model_copy(update={"wall_time_s": round(time.perf_counter() - started, 3)})
    if cache is not None and keyed is not None and cacheable(result):
        # an unwritable cache costs a rerun next time, nothing more
        with contextlib.suppress(OSError):
            cache.put(keyed[0], result, parts=keyed[1])
    return result


def run_many(
    jobs: list[SmokeJob],
    settings: SmokeSettings,
    *,
    use_cache: bool = True,
    concurrency: int = 4,
    progress: SmokeProgress | None = None,
    cache: SmokeCache | None = None,
) -> dict[str, SmokeResult]:
    """Every job's result by model id; a job that fails is an `error` result, never a raise."""
    store = (cache or SmokeCache()) if use_cache else None
    fingerprint = hardware_fingerprint() if use_cache else ""
    results: dict[str, SmokeResult] = {}

    def one(job: SmokeJob) -> SmokeResult:
        if progress is not None:
            progress.started(job.model_id, job.backend.name)
        on_wait = None
        if progress is not None:
            tell = progress

            def on_wait(message: str) -> None:
                tell.waiting(job.model_id, message)

        result = run_suite(
            job.backend,
            job.settings or settings,
            cache=store,
            fingerprint=fingerprint,
            on_wait=on_wait,
        )
        if progress is not None:
            progress.finished(job.model_id, result)
        return result

    def guarded(job: SmokeJob) -> SmokeResult:
        try:
            return one(job)
        except Exception as exc:  # a progress callback raising, say
            return SmokeResult.error(f"{type(exc).__name__}: {exc}")

    parallel = [j for j in jobs if j.backend.parallel_safe]
    local = [j for j in jobs if not j.backend.parallel_safe]
    futures: dict[str, Future[SmokeResult]] = {}
    reset_cancel()  # a new batch starts with requests allowed
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        for job in parallel:
            futures[job.model_id] = pool.submit(guarded, job)
        for job in local:
            results[job.model_id] = guarded(job)
        for model_id, future in futures.items():
            results[model_id] = future.result()
    except BaseException:
        # Ctrl-C (or a bug): end the endpoint requests in flight instead of waiting out
        # their timeouts, and leave without joining the workers; they stop within a second.
        cancel_requests()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return {job.model_id: results[job.model_id] for job in jobs}
