"""`recommend --fetch-top N`: fetch the pinned artifacts of the N best candidates that fit this
machine, so the smoke stage has real weights to test.

"Best" is the ranking before any smoke evidence (the smoke term neutral for all); "fits this
machine" is what the filters admit plus a file small enough to load here for a smoke test.
Planning, the disk and confirmation checks, and the fetches are plain functions; the CLI only
prints the plan and asks the question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog import Catalog
from selector.catalog.schema import Artifact
from selector.errors import InputError
from selector.hardware import GIB, HardwareProfile
from selector.requirements import Requirements
from selector.weights.artifacts import pinned_artifact
from selector.weights.fetch import (
    FetchError,
    HubSettings,
    bytes_to_download,
    fetch_artifact,
    free_bytes,
)
from selector.weights.model import HashStatus, LocalWeights, MatchKind, Source

# The smoke stage loads a local file only when it leaves this much of the available RAM free
# (selector.smoke.jobs.LOCAL_RAM_HEADROOM); fetching a file it would then refuse is waste.
RAM_HEADROOM = 1.2


@dataclass(frozen=True)
class FetchItem:
    model_id: str
    artifact: Artifact
    bytes_needed: int  # 0 when already in the Hugging Face cache


@dataclass
class FetchTopPlan:
    items: list[FetchItem] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)  # better-ranked, why not
    free_bytes: int = 0
    cache_dir: Path = Path()

    @property
    def total_bytes(self) -> int:
        return sum(i.bytes_needed for i in self.items)

    def lines(self) -> list[str]:
        """What the user reads before saying yes: each file, the total and the free disk."""
        out = []
        for item in self.items:
            art = item.artifact
            size = art.size_bytes or 0
            state = "already in the cache" if item.bytes_needed == 0 else f"{size / GIB:.2f} GB"
            rev = art.revision[:12] if art.revision else "main (unpinned)"
            out.append(f"{item.model_id}: {art.repo}/{art.files[0].name}@{rev} ({state})")
        out += [f"{mid}: not fetched: {why}" for mid, why in self.passed_over]
        out.append(
            f"to download: {self.total_bytes / GIB:.2f} GB; free in {self.cache_dir}: "
            f"{self.free_bytes / GIB:.2f} GB"
        )
        return out


def plan_fetch_top(
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    n: int,
    *,
    available_ram_bytes: int | None = None,
    settings: HubSettings | None = None,
) -> FetchTopPlan:
    """The N best admissible candidates with a pinned GGUF artifact that this machine can load."""
    import psutil

    from selector.filtering import assess_catalog
    from selector.ranking import rank

    settings = settings or HubSettings.from_env()
    ram = (
        available_ram_bytes
        if available_ram_bytes is not None
        else psutil.virtual_memory().available
    )
    plan = FetchTopPlan(free_bytes=free_bytes(settings.cache_dir), cache_dir=settings.cache_dir)
    survivors = [a for a in assess_catalog(req, catalog, hw) if not a.excluded]
    for a, _ in rank(survivors, req):
        if len(plan.items) >= n:
            break
        model_id = a.model.id
        quant = a.fit.quantization  # the preset the fit chose (or the fixed one)
        art = pinned_artifact(catalog, model_id, quant)
        if art is None:
            plan.passed_over.append((model_id, f"the catalog pins no GGUF artifact at {quant}"))
            continue
        if art.size_bytes is None:
            plan.passed_over.append((model_id, f"{art.id}: file size unknown"))
            continue
        if art.size_bytes * RAM_HEADROOM > ram:
            plan.passed_over.append(
                (
                    model_id,
                    f"{art.size_bytes / GIB:.1f} GB is too large to smoke-test in this machine's "
                    f"{ram / GIB:.1f} GB of available RAM",
                )
            )
            continue
        needed = bytes_to_download(art, settings)
        plan.items.append(FetchItem(model_id, art, art.size_bytes if needed is None else needed))
    return plan


def confirm_fetch_top(
    plan: FetchTopPlan,
    *,
    yes: bool,
    interactive: bool,
    ask: Callable[[str], bool],
) -> None:
    """Refuse (InputError) when the disk cannot hold the files, or nobody said yes."""
    total = plan.total_bytes
    if total > plan.free_bytes:
        raise InputError(
            f"--fetch-top: {total / GIB:.2f} GB to download but {plan.cache_dir} has only "
            f"{plan.free_bytes / GIB:.2f} GB free"
        )
    if total == 0 or yes:
        return
    if not interactive:
        raise InputError(
            f"--fetch-top would download {total / GIB:.2f} GB and stdin is not a terminal; "
            "pass --yes to confirm"
        )
    if not ask(f"Download {total / GIB:.2f} GB into {plan.cache_dir}?"):
        raise FetchError("--fetch-top: declined; nothing was downloaded")


@dataclass
class FetchTopResult:
    fetched: dict[str, LocalWeights] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_fetch_top(
    plan: FetchTopPlan,
    settings: HubSettings | None = None,
    *,
    on_start: Callable[[FetchItem], None] | None = None,
) -> FetchTopResult:
    """Fetch each planned artifact; a failure is that candidate's, never the run's."""
    settings = settings or HubSettings.from_env()
    out = FetchTopResult()
    for item in plan.items:
        if on_start is not None:
            on_start(item)
        try:
            got = fetch_artifact(item.artifact, settings)
        except FetchError as exc:
            out.failures[item.model_id] = str(exc)
            continue
        out.notes += got.notes
        art = item.artifact
        out.fetched[item.model_id] = LocalWeights(
            path=str(got.path),
            source=Source.HF_CACHE,
            name=art.files[0].name,
            shards=[str(f.path) for f in got.files] if len(got.files) > 1 else [],
            size_bytes=sum(f.size_bytes for f in got.files),
            catalog_id=item.model_id,
            quantization=art.quantization,
            match=MatchKind.SHA256 if got.verified else MatchKind.FILENAME,
            hash=HashStatus.VERIFIED if got.verified else HashStatus.UNKNOWN,
            sha256=got.files[0].sha256,
            expected_sha256=art.files[0].sha256,
            artifact=art.id,
            repo=art.repo,
            revision=got.revision,
        )
    return out
