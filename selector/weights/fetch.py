"""`selector fetch`: download a catalog artifact into the Hugging Face cache, then verify it.

The download is huggingface_hub's `hf_hub_download` (imported here, when asked to download):
revision pinned to the artifact's commit, progress bars on stderr, the file stored as a blob
named by its etag with a snapshot symlink, so huggingface_hub, llama.cpp and vLLM reuse it.
A dropped connection is resumed with a Range request within the call (huggingface_hub's
`http_get`). Then selector checks the size and sha256 against the catalog's pin; a file that
does not match is deleted (blob and snapshot link) and the fetch fails naming both hashes.

`HF_ENDPOINT` (a company mirror), `HF_HUB_CACHE`/`HF_HOME` and `HF_HUB_OFFLINE` are read from
the environment when the fetch runs, and passed to huggingface_hub explicitly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog.schema import Artifact, ArtifactFile
from selector.errors import ExitCode, SelectorError
from selector.weights.hashing import file_sha256, forget_sha256
from selector.weights.hf_cache import hub_cache_dir, repo_folder

DEFAULT_ENDPOINT = "https://huggingface.co"


class FetchError(SelectorError):
    """A download that could not be made or did not verify (exit 1: the input was fine)."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class HubSettings:
    """Where and how to download, as the environment says at the time of the fetch."""

    cache_dir: Path
    endpoint: str | None
    offline: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if env is None else env
        offline = (env.get("HF_HUB_OFFLINE") or "").strip().lower() in {"1", "true", "yes", "on"}
        endpoint = (env.get("HF_ENDPOINT") or "").rstrip("/") or None
        return cls(hub_cache_dir(env), endpoint, offline)

    @property
    def where(self) -> str:
        return self.endpoint or DEFAULT_ENDPOINT


@dataclass(frozen=True)
class FetchedFile:
    name: str
    path: Path  # the snapshot path (a symlink to the blob)
    size_bytes: int
    sha256: str
    verified: bool  # sha256 equals the catalog's pin (False when nothing is pinned)


@dataclass
class FetchResult:
    artifact: Artifact
    files: list[FetchedFile] = field(default_factory=list)
    revision: str | None = None  # the commit the files were taken from
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        """What llama.cpp is given: the first file (shard)."""
        return self.files[0].path

    @property
    def verified(self) -> bool:
        return bool(self.files) and all(f.verified for f in self.files)


def cached_path(art: Artifact, f: ArtifactFile, settings: HubSettings) -> Path | None:
    """The snapshot path of `f` when it is already in the cache: at the pinned revision, or at
    the commit `refs/main` names for an unpinned artifact."""
    repo_dir = settings.cache_dir / repo_folder(art.repo)
    revision = art.revision
    if revision is None:
        try:
            revision = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
        except OSError:
            return None
    if not revision or "/" in revision or revision.startswith("."):
        return None
    path = repo_dir / "snapshots" / revision / f.name
    return path if path.exists() else None


def bytes_to_download(art: Artifact, settings: HubSettings) -> int | None:
    """Bytes not yet in the cache; None when a size is unknown."""
    total = 0
    for f in art.files:
        if cached_path(art, f, settings) is not None:
            continue
        if f.size_bytes is None:
            return None
        total += f.size_bytes
    return total


def free_bytes(directory: Path) -> int:
    """Free space on the filesystem that holds (or will hold) `directory`."""
    for path in (directory, *directory.parents):
        try:
            return shutil.disk_usage(path).free
        except OSError:
            continue
    return 0


def _remove_download(path: Path) -> None:
    """Delete a snapshot link and the blob it points at (or the file, without symlinks)."""
    blob = Path(os.path.realpath(path))
    forget_sha256(path)
    for victim in (blob, path):
        with contextlib.suppress(FileNotFoundError):
            victim.unlink()


def _hub_error(exc: Exception, art: Artifact, f: ArtifactFile, settings: HubSettings) -> FetchError:
    """One line for what huggingface_hub raised (its error classes looked up by name, so a
    class a release renames degrades to the generic line instead of an AttributeError)."""
    from huggingface_hub import errors

    def kind(*names: str) -> bool:
        classes = tuple(c for n in names if isinstance(c := getattr(errors, n, None), type))
        return bool(classes) and isinstance(exc, classes)

    where = f"{art.repo}/{f.name}@{art.revision or 'main'}"
    if settings.offline and kind("LocalEntryNotFoundError", "OfflineModeIsEnabled"):
        return FetchError(
            f"{where}: not in the Hugging Face cache {settings.cache_dir} and HF_HUB_OFFLINE is "
            "set; unset it, or point HF_ENDPOINT at a mirror you can reach"
        )
    if kind("GatedRepoError"):
        return FetchError(
            f"{where}: gated repository: accept its terms on the Hub and set HF_TOKEN"
        )
    if kind("RepositoryNotFoundError"):
        return FetchError(f"{where}: repository not found at {settings.where}")
    if kind("RevisionNotFoundError"):
        return FetchError(f"{where}: revision not found at {settings.where}")
    if kind("RemoteEntryNotFoundError") or (
        kind("EntryNotFoundError") and not kind("LocalEntryNotFoundError")
    ):
        return FetchError(f"{where}: file not found in the repository at {settings.where}")
    if kind("LocalEntryNotFoundError"):
        return FetchError(f"{where}: cannot reach {settings.where} and the file is not cached")
    if kind("HfHubHTTPError"):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        return FetchError(f"{where}: HTTP {status} from {settings.where}")
    text = " ".join(str(exc).split())[:300]
    return FetchError(f"{where}: download failed: {type(exc).__name__}: {text}")


def _download(art: Artifact, f: ArtifactFile, settings: HubSettings) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            art.repo,
            f.name,
            revision=art.revision or "main",
            cache_dir=settings.cache_dir,
            endpoint=settings.endpoint,
            local_files_only=settings.offline,
        )
    except Exception as exc:  # every failure of the library becomes one line
        raise _hub_error(exc, art, f, settings) from None
    return Path(str(path))


def verify_file(path: Path, f: ArtifactFile) -> FetchedFile:
    """Size, then sha256, against the pins; a mismatch deletes the download and raises."""
    size = path.stat().st_size
    if f.size_bytes is not None and size != f.size_bytes:
        _remove_download(path)
        raise FetchError(
            f"{f.name}: size {size} is not the pinned {f.size_bytes}; the download was deleted"
        )
    sha = file_sha256(path)
    if f.sha256 is not None and sha != f.sha256:
        _remove_download(path)
        raise FetchError(
            f"{f.name}: sha256 mismatch: expected {f.sha256}, got {sha}; the download was deleted"
        )
    return FetchedFile(f.name, path, size, sha, verified=f.sha256 is not None)


def fetch_artifact(art: Artifact, settings: HubSettings | None = None) -> FetchResult:
    """Download (or find cached) every file of `art` and verify each; FetchError otherwise."""
    settings = settings or HubSettings.from_env()
    if art.format != "gguf":
        raise FetchError(f"{art.id}: only GGUF artifacts are fetched for smoke tests")
    if not settings.offline:
        needed = bytes_to_download(art, settings)
        free = free_bytes(settings.cache_dir)
        if needed is not None and needed > free:
            raise FetchError(
                f"{art.id}: needs {needed / 2**30:.2f} GB, {settings.cache_dir} has "
                f"{free / 2**30:.2f} GB free"
            )
    result = FetchResult(art)
    if art.revision is None:
        result.notes.append(f"{art.id} is not pinned to a revision: fetched the repository's main")
    for f in art.files:
        path = _download(art, f, settings)
        result.files.append(verify_file(path, f))
        if f.sha256 is None:
            result.notes.append(f"{f.name}: the catalog pins no sha256; only its size was checked")
    snapshot = result.files[0].path
    for _ in art.files[0].name.split("/"):
        snapshot = snapshot.parent
    result.revision = snapshot.name
    return result
