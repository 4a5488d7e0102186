"""The llama.cpp smoke runner on tiny generated GGUF files: real loads, real failures, the cache."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from support.gguf_models import CHATML_TEMPLATE, make_corrupt_gguf, make_tiny_gguf

from selector.smoke.cache import SmokeCache, file_sha256, known_sha256
from selector.smoke.child import HOOK_ENV
from selector.smoke.interface import SmokeResult, SmokeSettings, SmokeStatus
from selector.smoke.llamacpp import LlamaCppBackend
from selector.smoke.probes import SUITE_VERSION, SuitePlan
from selector.smoke.runner import SmokeJob, result_key, run_many, run_suite
from selector.vocab import Tuning

FAST = SmokeSettings(n_ctx=2048, threads=1, max_tokens=8, speed_tokens=16, timeout_s=60)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gguf(
        tmp_path_factory.mktemp("gguf") / "tiny-instruct.gguf",
        finetune="instruct",
        chat_template=CHATML_TEMPLATE,
    )


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-base.gguf", seed=1)


@pytest.mark.integration
def test_tiny_model_loads_and_every_metric_is_measured(tiny: Path) -> None:
    backend = LlamaCppBackend(tiny)
    assert backend.tuning is Tuning.INSTRUCT
    result = backend.run(FAST)
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    for metric in (
        "load_time_s",
        "time_to_first_token_ms",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "peak_rss_gb",
        "wall_time_s",
    ):
        assert getattr(result, metric) > 0, metric
    assert result.model_sha256 == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert result.quantization == "F32"
    assert (result.n_ctx, result.threads) == (2048, 1)
    assert result.llama_cpp_version and result.suite_version == SUITE_VERSION
    assert [p.id for p in result.probes] == [p.id for p in SuitePlan().probes()]
    assert all(not p.error for p in result.probes), [p.error for p in result.probes]
    assert result.probes_total == len(SuitePlan().probes())
    assert result.probes_passed == sum(p.passed for p in result.probes)
    assert result.suite_digest == SuitePlan().digest()
    assert result.long_context_tokens > 1000  # the document filled most of the 2048 context


@pytest.mark.integration
def test_base_model_gets_few_shot_prompts(tiny_base: Path) -> None:
    backend = LlamaCppBackend(tiny_base)
    assert backend.tuning is Tuning.BASE
    result = backend.run(FAST)
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    assert len(result.probes) == len(SuitePlan().probes())
    # random weights answer noise: the random model must not pass the suite
    assert result.status is SmokeStatus.FAILED
    assert result.reason.startswith("failed ")


@pytest.mark.integration
def test_crashing_child_is_an_error_with_its_signal(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, "abort")
    result = LlamaCppBackend(tiny).run(FAST)
    assert result.status is SmokeStatus.ERROR
    assert "crashed with SIGABRT" in result.reason
    assert result.model_sha256  # what was measured before the crash is kept


@pytest.mark.integration
def test_child_exiting_nonzero_is_an_error(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, "exit3")
    result = LlamaCppBackend(tiny).run(FAST)
    assert result.status is SmokeStatus.ERROR
    assert "exited with status 3" in result.reason


@pytest.mark.integration
def test_hanging_child_is_killed_at_the_time_limit(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, "hang")
    started = time.monotonic()
    result = LlamaCppBackend(tiny).run(FAST.model_copy(update={"timeout_s": 2}))
    elapsed = time.monotonic() - started
    assert result.status is SmokeStatus.ERROR
    assert result.reason.startswith("timed out after 2 s"), result.reason
    assert elapsed < 15


@pytest.mark.integration
def test_memory_limit_turns_an_allocation_failure_into_an_error(tmp_path: Path) -> None:
    # 2M tokens of KV cache is ~0.5 GiB for this model: more than the 0.4 GiB cap allows
    long = make_tiny_gguf(tmp_path / "long.gguf", n_ctx_train=4_000_000)
    settings = FAST.model_copy(update={"n_ctx": 2_000_000, "memory_limit_gb": 0.4})
    result = LlamaCppBackend(long).run(settings)
    assert result.status is SmokeStatus.ERROR
    assert "0.4 GiB memory limit" in result.reason
    assert "failed to allocate" in result.reason
    assert result.memory_limit_gb == 0.4


@pytest.mark.integration
@pytest.mark.parametrize("cut", ["header", "tensors", "junk"])
def test_corrupt_file_is_not_a_loadable_gguf(tiny: Path, tmp_path: Path, cut: str) -> None:
    if cut == "junk":
        bad = make_corrupt_gguf(tmp_path / "junk.gguf")
    else:
        keep = 2000 if cut == "header" else tiny.stat().st_size // 2
        bad = make_corrupt_gguf(tmp_path / f"{cut}.gguf", keep_bytes=keep, source=tiny)
    result = LlamaCppBackend(bad).run(FAST)
    assert result.status is SmokeStatus.ERROR
    assert "not a loadable GGUF" in result.reason, result.reason


def test_missing_file_is_an_error_not_a_raise(tmp_path: Path) -> None:
    result = LlamaCppBackend(tmp_path / "nope.gguf").run(FAST)
    assert result.status is SmokeStatus.ERROR
    assert "no such file" in result.reason


# ------------------------------------------------------------------------------------ cache


@pytest.mark.integration
@pytest.mark.usefixtures("quiet_machine")
def test_cache_miss_then_hit_then_corrupt_entry_is_rewritten(tiny: Path, tmp_path: Path) -> None:
    cache = SmokeCache(tmp_path / "cache")
    backend = LlamaCppBackend(tiny)
    first = run_suite(backend, FAST, cache=cache, fingerprint="test-machine")
    assert not first.cached and first.status is not SmokeStatus.ERROR

    started = time.perf_counter()
    second = run_suite(backend, FAST, cache=cache, fingerprint="test-machine")
    assert second.cached
    assert time.perf_counter() - started < 1.0
    assert second.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})

    keyed = result_key(backend, FAST, "test-machine")
    assert keyed is not None
    entry = cache.root / "results" / f"{keyed[0]}.json"
    assert json.loads(entry.read_text())["parts"]["suite_version"] == SUITE_VERSION
    entry.write_text('{"key": "trunc')
    assert cache.get(keyed[0]) is None
    third = run_suite(backend, FAST, cache=cache, fingerprint="test-machine")
    assert not third.cached
    assert cache.get(keyed[0]) is not None  # rewritten
    assert not list(entry.parent.glob("*.tmp"))


def test_cache_key_changes_with_settings_hardware_and_suite(tiny: Path) -> None:
    backend = LlamaCppBackend(tiny)
    base = result_key(backend, FAST, "m1")
    assert base is not None
    assert result_key(backend, FAST, "m1") == base
    assert result_key(backend, FAST, "m2")[0] != base[0]  # type: ignore[index]
    other = FAST.model_copy(update={"n_ctx": 1024})
    assert result_key(backend, other, "m1")[0] != base[0]  # type: ignore[index]
    base_tuned = LlamaCppBackend(tiny, tuning=Tuning.BASE)
    assert result_key(base_tuned, FAST, "m1")[0] != base[0]  # type: ignore[index]


def test_errors_are_not_cached(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SmokeCache(tmp_path / "cache")
    monkeypatch.setenv(HOOK_ENV, "exit3")
    first = run_suite(LlamaCppBackend(tiny), FAST, cache=cache, fingerprint="m")
    assert first.status is SmokeStatus.ERROR
    assert not (cache.root / "results").exists() or not list((cache.root / "results").iterdir())


def test_file_hash_is_remembered_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    root = tmp_path / "c"
    assert known_sha256(path, root) is None
    assert file_sha256(path, root) == hashlib.sha256(b"one").hexdigest()
    assert known_sha256(path, root) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two!")
    assert known_sha256(path, root) is None
    assert file_sha256(path, root) == hashlib.sha256(b"two!").hexdigest()


# --------------------------------------------------------------------------------- run_many


class _RaisingBackend:
    name = "broken"
    parallel_safe = True

    def cache_key(self) -> str | None:
        return None

    def run(self, settings: SmokeSettings) -> SmokeResult:
        raise RuntimeError("backend bug")


@pytest.mark.integration
def test_run_many_keeps_going_past_a_failing_candidate(tiny: Path, tmp_path: Path) -> None:
    jobs = [
        SmokeJob("broken", _RaisingBackend()),
        SmokeJob("missing", LlamaCppBackend(tmp_path / "missing.gguf")),
        SmokeJob("tiny", LlamaCppBackend(tiny)),
    ]
    started: list[str] = []
    done: dict[str, SmokeStatus] = {}

    class Progress:
        def started(self, model_id: str, backend: str) -> None:
            started.append(model_id)

        def waiting(self, model_id: str, message: str) -> None:
            raise AssertionError("nobody else holds the lock")

        def finished(self, model_id: str, result: SmokeResult) -> None:
            done[model_id] = result.status

    results = run_many(jobs, FAST, use_cache=False, concurrency=2, progress=Progress())
    assert list(results) == ["broken", "missing", "tiny"]
    assert results["broken"].status is SmokeStatus.ERROR
    assert "backend bug" in results["broken"].reason
    assert results["missing"].status is SmokeStatus.ERROR
    assert results["tiny"].status in (SmokeStatus.PASSED, SmokeStatus.FAILED)
    assert sorted(started) == sorted(done) == ["broken", "missing", "tiny"]
