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
_MAX_DEPTH = 8  # arrays of arrays: llama.cpp reads none; deeper is an attack on the stack
_MAX_DIM = 1 << 40  # elements along one tensor dimension
_MAX_NUMEL = 1 << 50  # elements of one tensor (a 1e15-parameter tensor is not a model)
# Smallest encoding of one entry, to check a declared count against the bytes left for it.
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, a one-byte value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset
_MIN_ITEM_BYTES = {GGUFValueType.STRING: 8, GGUFValueType.ARRAY: 12}
# Numbers that size what selector builds (per-layer lists, KV cache figures), with the largest
# plausible value: a header above these is refused before anything is sized by it.
PLAUSIBLE_MAX: dict[str, int] = {
    "block_count": 1 << 14,
    "embedding_length": 1 << 20,
    "feed_forward_length": 1 << 24,
    "context_length": 1 << 28,
    "attention.head_count": 1 << 16,
    "attention.head_count_kv": 1 << 16,
    "attention.key_length": 1 << 16,
    "attention.value_length": 1 << 16,
    "attention.key_length_swa": 1 << 16,
    "attention.value_length_swa": 1 << 16,
    "attention.sliding_window": 1 << 28,
    "attention.shared_kv_layers": 1 << 14,
    "expert_count": 1 << 16,
    "expert_used_count": 1 << 16,
}


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

    def value(self, vtype: GGUFValueType, depth: int = 0) -> Any:
        if vtype is GGUFValueType.STRING:
            return self.string()
        if vtype is not GGUFValueType.ARRAY:
            return self.take(_SCALARS[vtype])
        if depth >= _MAX_DEPTH:
            raise self.fail(f"arrays nested more than {_MAX_DEPTH} deep at byte {self.pos}")
        item_type, count = self.value_type(), self.take("<Q")
        self.room_for(count, _MIN_ITEM_BYTES.get(item_type, 1), "array entries")
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
        return [self.value(item_type, depth + 1) for _ in range(count)]

    def room_for(self, count: int, each: int, what: str) -> None:
        """Refuse a declared count that the rest of the file cannot hold."""
        left = len(self.buf) - self.pos
        if count * each > left:
            raise self.fail(
                f"declares {count} {what} at byte {self.pos}, more than its {left} "
                "remaining bytes can hold"
            )

    def tensor(self) -> TensorInfo:
        name = self.string()
        n_dims = self.take("<I")
        if n_dims > _MAX_DIMS:
            raise self.fail(f"tensor {_shown(name)} has {n_dims} dimensions")
        dims = tuple(self.take("<Q") for _ in range(n_dims))
        raw_type = self.take("<I")
        offset = self.take("<Q")  # of the data, from the start of the data section
        try:
            ttype = GGMLQuantizationType(raw_type)
            block, size = GGML_QUANT_SIZES[ttype]
        except (ValueError, KeyError):
            raise self.fail(f"tensor {_shown(name)} has unknown type {raw_type}") from None
        numel = 1
        for d in dims:
            numel *= d
        if any(d > _MAX_DIM for d in dims) or numel > _MAX_NUMEL:
            raise self.fail(f"tensor {_shown(name)} has implausible dimensions {list(dims)}")
        n_bytes = numel // block * size
        if offset + n_bytes > len(self.buf):
            raise self.fail(
                f"tensor {_shown(name)} ({n_bytes} bytes at offset {offset}) does not fit in "
                f"the file's {len(self.buf)} bytes"
            )
        return TensorInfo(name, dims, ttype.name, n_bytes)


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
    cur.room_for(kv_count, _MIN_KV_BYTES, "metadata entries")
    cur.room_for(tensor_count, _MIN_TENSOR_BYTES, "tensors")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string()
        metadata[key] = cur.value(cur.value_type())
    _check_sizes(cur, metadata, tensor_count)
    table = tuple(cur.tensor() for _ in range(tensor_count)) if with_tensors else ()
    return GGUFHeader(cur.path, version, tensor_count, metadata, table, len(cur.buf))


def _check_sizes(cur: _Cursor, metadata: dict[str, Any], tensor_count: int) -> None:
    """The numbers that size lists and figures must be whole numbers in a plausible range:
    a 182-byte file declaring 300,000,000 layers is refused here, not allocated for."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return
    for key, limit in PLAUSIBLE_MAX.items():
        value = metadata.get(f"{arch}.{key}")
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= limit:
                raise cur.fail(f"implausible {_shown(arch)}.{key} = {_shown(v)} (at most {limit})")
    blocks = metadata.get(f"{arch}.block_count")
    if isinstance(blocks, int) and tensor_count and blocks > tensor_count:
        raise cur.fail(f"{blocks} blocks but only {tensor_count} tensors")


def _shown(value: object) -> str:
    """A header value for a message: repr, at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
