"""`selector verify`: does a deployment still match its lock, and what changed since?

Three checks, each a `Check` with a verdict and a reason: the weights file on disk has the
locked size and sha256; an endpoint serves the model name and passes the locked probe suite;
the locked model still meets the locked requirements on the locked hardware under today's
catalog, with the same license. What changed without breaking the lock (a corrected catalog
fact, a newer model of the same organization, another top pick) is listed as a change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selector.catalog import Catalog
from selector.errors import InputError
from selector.lock import Lock, LockedFile, entry_snapshot
from selector.provenance import sha256_file

if TYPE_CHECKING:
    from selector.smoke.probes import SuitePlan


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyResult:
    lock: Lock
    checks: list[Check] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "model_id": self.lock.model_id,
            "quantization": self.lock.quantization,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "changes": self.changes,
        }


# ------------------------------------------------------------------------------------ file


def _locked_file(lock: Lock, path: Path) -> LockedFile | None:
    files = lock.artifact.files
    named = [f for f in files if Path(f.name).name == path.name]
    if named:
        return named[0]
    return files[0] if len(files) == 1 else None


def verify_file(lock: Lock, path: Path) -> Check:
    """The file's size and sha256 against the locked ones; both hashes named on a mismatch."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    locked = _locked_file(lock, path)
    if locked is None:
        names = ", ".join(f.name for f in lock.artifact.files) or "none"
        return Check("file", False, f"{path.name} is none of the locked files ({names})")
    actual = sha256_file(path)
    size = path.stat().st_size
    if locked.sha256 is None:
        missing = ", ".join(lock.artifact.missing) or "sha256"
        return Check(
            "file",
            False,
            f"the lock pins no sha256 for {locked.name} (not pinned: {missing}); this file's "
            f"sha256 is {actual}: lock it with `selector lock --weights FILE` to pin it",
        )
    problems = []
    if locked.size_bytes is not None and size != locked.size_bytes:
        problems.append(f"size {size:,} bytes, locked {locked.size_bytes:,}")
    if actual != locked.sha256:
        problems.append(f"sha256 {actual}, locked {locked.sha256}")
    if problems:
        return Check(
            "file", False, f"{path} is not the locked {locked.name}: " + "; ".join(problems)
        )
    return Check(
        "file", True, f"{path} is the locked {locked.name} (sha256 {actual}, {size:,} bytes)"
    )


# -------------------------------------------------------------------------------- endpoint


def locked_plan(lock: Lock) -> SuitePlan:
    """The probe suite the locked requirements ask (their needs, probe files and context);
    every built-in probe when they cannot be read back (a lock from an older selector)."""
    from pydantic import ValidationError

    from selector.errors import SelectorError
    from selector.requirements import Requirements
    from selector.smoke.probes import SuitePlan
    from selector.smoke_stage import smoke_settings

    try:
        return smoke_settings(Requirements.model_validate(lock.requirements)).suite
    except (ValidationError, SelectorError, OSError, ValueError):
        return SuitePlan()


def verify_endpoint(
    lock: Lock,
    base_url: str,
    served_model: str,
    *,
    api_key_env: str | None = None,
    timeout_s: float = 120,
    catalog: Catalog | None = None,
) -> list[Check]:
    """The server lists `served_model` (GET /models) and passes the locked probe suite."""
    from selector.provenance import plan_fingerprint
    from selector.smoke.endpoint import EndpointBackend
    from selector.smoke.interface import SmokeSettings, SmokeStatus
    from selector.smoke.openai_http import Deadline, EndpointError, OpenAIHttp
    from selector.vocab import Tuning

    tuning = Tuning.INSTRUCT
    if catalog is not None and lock.model_id in catalog.models:
        tuning = catalog.models[lock.model_id].tuning
    backend = EndpointBackend(
        base_url, served_model, api_key_env=api_key_env, tuning=tuning, timeout_s=timeout_s
    )
    try:
        with OpenAIHttp(backend.base_url, api_key_env=api_key_env, policy=backend.policy) as http:
            served = http.list_models(Deadline(timeout_s))
    except EndpointError as exc:
        return [Check("endpoint", False, f"GET {backend.base_url}/models: {exc.message}")]
    if served_model not in served:
        listed = ", ".join(served[:8]) or "nothing"
        return [Check("endpoint", False, f"the server lists {listed}, not {served_model!r}")]
    checks = [Check("endpoint", True, f"{backend.base_url} serves {served_model!r}")]
    plan = locked_plan(lock)
    suite, locked = plan_fingerprint(plan), lock.provenance.smoke_suite
    if suite != locked:
        checks.append(
            Check(
                "suite",
                False,
                f"the probe suite changed since the lock (v{locked.version} "
                f"{locked.sha256[:12]} -> v{suite.version} {suite.sha256[:12]}): the locked "
                "suite cannot be run; run `selector lock` again to accept the new one",
            )
        )
        return checks
    result = backend.run(SmokeSettings(timeout_s=timeout_s, suite=plan))
    detail = (
        f"{result.probes_passed}/{result.probes_total} probes, "
        + (
            f"{result.decode_tokens_per_s:.1f} tokens/s: "
            if result.decode_tokens_per_s is not None
            else ""
        )
        + result.reason
    )
    checks.append(Check("suite", result.status is SmokeStatus.PASSED, detail))
    return checks


# --------------------------------------------------------------------------------- catalog


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff_entries(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`key: old -> new` for each top-level field that differs."""
    return [
        f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


def recheck_catalog(lock: Lock, catalog: Catalog) -> tuple[list[Check], list[str]]:
    """The locked requirements and hardware against today's catalog: does the model still pass,
    is its license the one approved, and what else changed."""
    checks: list[Check] = []
    changes: list[str] = []
    model = catalog.models.get(lock.model_id)
    if model is None:
        checks.append(
            Check(
                "catalog",
                False,
                f"{lock.model_id} is no longer in the catalog (if it came from a --catalog file, "
                "give that file to verify too)",
            )
        )
        return checks, changes
    lic = catalog.licenses[model.license]
    now_lic, now_model = entry_snapshot(lic), entry_snapshot(model)
    if now_lic.sha256 != lock.license_entry.sha256:
        diff = diff_entries(lock.license_entry.data, now_lic.data)
        changes += [f"license changed: {d}" for d in diff]
        checks.append(
            Check(
                "license",
                False,
                f"the license of {lock.model_id} changed since the lock ({len(diff)} field(s): "
                + ", ".join(d.split(":")[0] for d in diff)
                + "): legal must review it again, then run `selector lock` again",
            )
        )
    else:
        checks.append(Check("license", True, f"{lic.name} unchanged since the lock"))
    if now_model.sha256 != lock.catalog_entry.sha256:
        changes += [
            f"catalog fact corrected: {d}"
            for d in diff_entries(lock.catalog_entry.data, now_model.data)
        ]
    changes += _newer_models(lock, catalog)
    checks.append(_requirements_check(lock, catalog, changes))
    return checks, changes


def _newer_models(lock: Lock, catalog: Catalog) -> list[str]:
    org = lock.catalog_entry.data.get("organization")
    released = str(lock.catalog_entry.data.get("release_date", ""))
    return [
        f"newer model from {org}: {m.id} ({m.name}, released {m.release_date.isoformat()}), "
        "not in the catalog when the lock was made"
        for m in sorted(catalog.models.values(), key=lambda m: m.release_date)
        if m.organization == org
        and m.id not in lock.organization_models
        and m.release_date.isoformat() > released
    ]


def _requirements_check(lock: Lock, catalog: Catalog, changes: list[str]) -> Check:
    """Rerun the recommendation (no smoke) with the locked requirements and hardware."""
    from selector.pipeline import SmokePlan, recommend
    from selector.requirements import Requirements

    req = Requirements.model_validate(lock.requirements)  # load_lock checked it
    report = recommend(req, catalog, lock.hardware, SmokePlan(enabled=False))
    prov = report.provenance
    if prov is not None and prov.catalog.sha256 != lock.catalog_sha256:
        changes.append(
            f"catalog content changed since the lock (sha256 {lock.catalog_sha256[:12]} -> "
            f"{prov.catalog.sha256[:12]}, as of {prov.catalog.date or 'unknown'})"
        )
    if report.selector_version != lock.selector_version:
        changes.append(f"selector {lock.selector_version} -> {report.selector_version}")
    excluded = next((e for e in report.excluded if e.id == lock.model_id), None)
    if excluded is not None:
        why = "; ".join(f"{r.code.value}: {r.message}" for r in excluded.reasons)
        return Check("requirements", False, f"{lock.model_id} no longer meets them: {why}")
    cand = next(c for c in report.candidates if c.id == lock.model_id)
    if report.candidates[0].id != lock.top_pick:
        basis = " (the lock's ranking used smoke results; this one does not)" if lock.smoke else ""
        changes.append(
            f"top pick under today's catalog: {report.candidates[0].id} (was {lock.top_pick})"
            + basis
        )
    changes += _artifact_changes(lock, cand.artifact)
    return Check(
        "requirements",
        True,
        f"{lock.model_id} still meets them: rank {cand.rank} of {len(report.candidates)}",
    )


def _artifact_changes(lock: Lock, now: Any) -> list[str]:
    """A catalog pin for the locked file that differs from the locked one."""
    if now is None or not lock.artifact.files:
        return []
    first = lock.artifact.files[0]
    out = []
    if now.file and now.file != first.name:
        out.append(f"artifact: the catalog now names {now.file} (locked {first.name})")
    elif now.sha256 and first.sha256 and now.sha256 != first.sha256:
        out.append(f"artifact: the catalog now pins sha256 {now.sha256} (locked {first.sha256})")
    elif now.sha256 and not first.sha256:
        out.append(f"artifact: the catalog now pins sha256 {now.sha256}; the lock pins none")
    if now.revision and lock.artifact.revision and now.revision != lock.artifact.revision:
        out.append(f"artifact: revision {now.revision} (locked {lock.artifact.revision})")
    return out


def verify(
    lock: Lock,
    catalog: Catalog,
    *,
    file: Path | None = None,
    endpoint: str | None = None,
    served_model: str | None = None,
    api_key_env: str | None = None,
    timeout_s: float = 120,
) -> VerifyResult:
    result = VerifyResult(lock)
    if file is not None:
        result.checks.append(verify_file(lock, file))
    if endpoint is not None:
        if not served_model:
            raise InputError("--endpoint needs --model NAME (the model the server serves)")
        result.checks += verify_endpoint(
            lock,
            endpoint,
            served_model,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            catalog=catalog,
        )
    checks, changes = recheck_catalog(lock, catalog)
    result.checks += checks
    result.changes += changes
    return result
