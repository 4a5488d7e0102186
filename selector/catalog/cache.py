"""A per-user cache of the validated catalog, so `recommend` does not re-parse TOML each run.

Keyed by selector's version and every catalog file's path, size and modification time: editing
a file, adding one, or upgrading selector misses the cache.

An entry is JSON (it was a pickle, and a planted pickle runs code when loaded), signed with an
HMAC whose key only this user can read (`catalog/.key`, mode 0600). Only selector writes
signed entries, and only for a catalog it has just validated, so a hit is rebuilt with
`model_construct`, without validating again: a hit costs what the pickle did. An entry that
is not signed with the key (planted, edited, corrupt), or that is not a regular file of this
user's that no one else can write, is a miss and is rewritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import gc
import hashlib
import hmac
import json
import os
import stat
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, HttpUrl

from selector import __version__
from selector.catalog.loader import Catalog
from selector.catalog.schema import GPU, Artifact, License, ModelEntry
from selector.paths import cache_dir, write_atomic

FORMAT = 4  # 1 was a pickle; 3 keeps the roots the catalog was loaded from; 4 file digests
_MAX_ENTRY_BYTES = 64 * 2**20
_Model = typing.TypeVar("_Model", bound=BaseModel)


def catalog_key(files: Sequence[Path], replace: bool = False) -> str:
    """The entry for these files read this way (`replace`: private models only)."""
    digest = hashlib.sha256(__version__.encode() + (b"\0replace" if replace else b""))
    for path in files:
        st = path.stat()
        digest.update(f"\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _entry(key: str) -> Path:
    return cache_dir() / "catalog" / f"{key}.json"


def _read_private(path: Path, limit: int) -> bytes | None:
    """`path`'s bytes if it is a regular file of this user's that no one else can write."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None  # planted by someone else, or open to them: not trusted
        return fh.read(limit + 1)


def _signing_key(create: bool) -> bytes | None:
    """This user's key for signing entries, made on first use; None when unusable."""
    path = cache_dir() / "catalog" / ".key"
    key = _read_private(path, 64)
    if key is not None and len(key) == 32:
        return key
    if not create:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it first, or a bad one is in the way
        key = _read_private(path, 64)
        return key if key is not None and len(key) == 32 else None
    except OSError:
        return None
    with os.fdopen(fd, "wb") as fh:
        key = os.urandom(32)
        fh.write(key)
    return key


def _sign(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def load_cached(key: str) -> Catalog | None:
    raw = _read_private(_entry(key), _MAX_ENTRY_BYTES)
    secret = _signing_key(create=False) if raw is not None else None
    if raw is None or secret is None:
        return None
    signature, _, body = raw.partition(b"\n")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        return None  # not written by this user's selector: planted, edited or cut short
    paused = gc.isenabled()
    gc.disable()  # thousands of small objects at once: no collection passes in between
    try:
        data = json.loads(body)
        if data.get("format") != FORMAT or data.get("key") != key:
            return None
        return Catalog(
            models={m.id: m for m in _rebuild(ModelEntry, data["models"])},
            licenses={lic.id: lic for lic in _rebuild(License, data["licenses"])},
            gpus={g.id: g for g in _rebuild(GPU, data["gpus"])},
            artifacts={a.id: a for a in _rebuild(Artifact, data["artifacts"])},
            origin={k: Path(v) for k, v in data["origin"].items()},
            roots=tuple(Path(r) for r in data["roots"]),
            digests={Path(k): v for k, v in data["digests"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError):  # an old or broken entry: a miss
        return None
    finally:
        if paused:
            gc.enable()


def store(key: str, cat: Catalog) -> None:
    secret = _signing_key(create=True)
    if secret is None:
        return  # no private key to sign with: no cache, a re-parse next time
    payload = {
        "format": FORMAT,
        "key": key,
        "models": [m.model_dump(mode="json") for m in cat.models.values()],
        "licenses": [lic.model_dump(mode="json") for lic in cat.licenses.values()],
        "gpus": [g.model_dump(mode="json") for g in cat.gpus.values()],
        "artifacts": [a.model_dump(mode="json") for a in cat.artifacts.values()],
        "origin": {k: str(v) for k, v in cat.origin.items()},
        "roots": [str(r) for r in cat.roots],
        "digests": {str(k): v for k, v in cat.digests.items()},
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-parse next time
        write_atomic(_entry(key), _sign(secret, body) + b"\n" + body)


# -- rebuilding validated models from their JSON dump, without validating again ------------

_Convert = Callable[[Any], Any]
_PLANS: dict[type[BaseModel], dict[str, _Convert]] = {}


def _rebuild(cls: type[_Model], items: list[dict[str, Any]]) -> list[_Model]:
    return [typing.cast(_Model, _build(cls, item)) for item in items]


def _build(cls: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """The model `data` was dumped from, restored through the pickle protocol's own
    `__setstate__` (as unpickling did, without its code execution), not validated again."""
    plan = _PLANS.get(cls)
    if plan is None:
        fields = cls.model_fields.items()
        plan = _PLANS[cls] = {name: _converter(f.annotation) for name, f in fields}
    if data.keys() != plan.keys():  # written by a selector whose schema differed
        raise KeyError(cls.__name__)
    values = {name: convert(data[name]) for name, convert in plan.items()}
    model = cls.__new__(cls)
    model.__setstate__(
        {
            "__dict__": values,
            "__pydantic_fields_set__": set(values),
            "__pydantic_extra__": None,
            "__pydantic_private__": None,
        }
    )
    return model


def _same(value: Any) -> Any:
    return value


def _url(value: str) -> HttpUrl:
    """An HttpUrl from a string that was one: restored as unpickling restores it (its `_url`),
    skipping the validator HttpUrl(...) builds on first use."""
    import pydantic_core

    url = HttpUrl.__new__(HttpUrl)
    url._url = pydantic_core.Url(value)
    return url


def _converter(annotation: Any) -> _Convert:
    """How to turn a field's JSON value back into the type the schema gave it."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _converter(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = _converter(options[0]) if len(options) == 1 else _same
        return _same if inner is _same else (lambda v: None if v is None else inner(v))
    if origin is list:
        item = _converter(typing.get_args(annotation)[0])
        return list if item is _same else (lambda v: [item(x) for x in v])
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return lambda v: _build(annotation, v)
        if issubclass(annotation, enum.Enum):
            return annotation
        if annotation is dt.date:
            return dt.date.fromisoformat
        if annotation is HttpUrl:
            return _url
    return _same
