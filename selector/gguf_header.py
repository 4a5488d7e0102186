"""Reading a GGUF file's header: metadata and tensor table, without touching the weights.

`gguf.GGUFReader` decodes every tokenizer string into numpy objects and indexes every tensor,
which takes about 10 s on Gemma 3's 262k-token vocabulary; discovery, the smoke runner and the
fit estimate only need the header, so it is walked here with `struct` over an mmap, hopping over
string arrays by length. The type tables come from the `gguf` package, and a test checks this
reader against GGUFReader. Every malformed file is a `GGUFFormatError` naming the byte offset.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from selector.errors import InputError

_SCALARS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
_MAX_STRING = 1 << 26  # 64 MiB: beyond this a length field is garbage, not a string
_MAX_DIMS = 8


class GGUFFormatError(InputError):
    """The file is not a GGUF llama.cpp could load."""


@dataclass(frozen=True)
class ArrayInfo:
    """A string array (a tokenizer vocabulary) left unread: its element type and length."""

    item_type: str
    count: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_name: str
    n_bytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    """Metadata (string arrays as ArrayInfo, scalar arrays as lists) and the tensor table."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    tensors: tuple[TensorInfo, ...] = field(default=(), repr=False)
    file_size: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.get("general.architecture", ""))

    def arch_key(self, key: str, default: Any = None) -> Any:
        """A `<architecture>.<key>` value, e.g. arch_key("block_count")."""
        return self.metadata.get(f"{self.architecture}.{key}", default)


class _Cursor:
    """Bounds-checked reads from the mapped file; every overrun names the byte offset."""

    def __init__(self, path: Path, buf: mmap.mmap) -> None:
        self.path, self.buf, self.pos = path, buf, 0

    def fail(self, what: str) -> GGUFFormatError:
        return GGUFFormatError(f"{self.path}: not a loadable GGUF: {what}")

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise self.fail(f"header cut short at byte {self.pos}")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = self.take("<Q")
        if length > _MAX_STRING or self.pos + length > len(self.buf):
            raise self.fail(f"bad string length at byte {self.pos}")
        raw = bytes(self.buf[self.pos : self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def value_type(self) -> GGUFValueType:
        raw = self.take("<I")
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise self.fail(f"unknown value type {raw} at byte {self.pos}") from None

    def value(self, vtype: GGUFValueType) -> Any:
        if vtype is GGUFValueType.STRING:
            return self.string()
        if vtype is not GGUFValueType.ARRAY:
            return self.take(_SCALARS[vtype])
        item_type, count = self.value_type(), self.take("<Q")
        if item_type in _SCALARS:
            fmt = _SCALARS[item_type]
            size = struct.calcsize(fmt)
            if self.pos + size * count > len(self.buf):
                raise self.fail("array past end of file")
            values = list(struct.unpack_from(f"<{count}{fmt[1:]}", self.buf, self.pos))
            self.pos += size * count
            return values
        if item_type is GGUFValueType.STRING:  # a vocabulary: hop over, tight loop
            unpack, end, p = struct.unpack_from, len(self.buf) - 8, self.pos
            for _ in range(count):
                if p > end:
                    raise self.fail("array past end of file")
                p += 8 + unpack("<Q", self.buf, p)[0]
            self.pos = p
            return ArrayInfo(item_type.name, count)
        return [self.value(item_type) for _ in range(count)]

    def tensor(self) -> TensorInfo:
        name = self.string()
        n_dims = self.take("<I")
        if n_dims > _MAX_DIMS:
            raise self.fail(f"tensor {name!r} has {n_dims} dimensions")
        dims = tuple(self.take("<Q") for _ in range(n_dims))
        raw_type = self.take("<I")
        self.take("<Q")  # data offset
        try:
            ttype = GGMLQuantizationType(raw_type)
            block, size = GGML_QUANT_SIZES[ttype]
        except (ValueError, KeyError):
            raise self.fail(f"tensor {name!r} has unknown type {raw_type}") from None
        numel = 1
        for d in dims:
            numel *= d
        return TensorInfo(name, dims, ttype.name, numel // block * size)


def read_gguf_header(path: Path, *, tensors: bool = True) -> GGUFHeader:
    """Parse the header of `path` (the tensor table too unless `tensors=False`)."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Cursor(path, buf), tensors)
    except GGUFFormatError:
        raise
    except (ValueError, OSError) as exc:  # empty file (mmap), unreadable file
        raise GGUFFormatError(f"{path}: not a loadable GGUF: {exc}") from None


def _parse(cur: _Cursor, with_tensors: bool) -> GGUFHeader:
    if len(cur.buf) < 24 or cur.take("<I") != GGUF_MAGIC:
        raise cur.fail("no GGUF magic at the start")
    version = cur.take("<I")
    if version not in (2, 3):
        raise cur.fail(f"unsupported GGUF version {version}")
    tensor_count, kv_count = cur.take("<Q"), cur.take("<Q")
    if kv_count > 1_000_000 or tensor_count > 10_000_000:
        raise cur.fail("implausible header counts")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string()
        metadata[key] = cur.value(cur.value_type())
    table = tuple(cur.tensor() for _ in range(tensor_count)) if with_tensors else ()
    return GGUFHeader(cur.path, version, tensor_count, metadata, table, len(cur.buf))
