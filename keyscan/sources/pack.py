"""Reading git's pack files in this process: packed blobs and commits without a pipe.

A history scan through `git cat-file --batch` moves every blob through a pipe, and on
getmoto/moto that costs git and keyscan about 3.5 CPU-seconds of 16. Here each worker maps
the packs, inflates the entries with zlib and applies deltas with dulwich's C `apply_delta`,
walking the packs in offset order so that delta bases are still in its cache when their
deltas come. Anything this reader does not handle (a delta whose base is named rather than
placed, an object too large to hold, a damaged entry) is left to cat-file, which reads it
or says why it cannot.

Only git's version 2 pack index is read. A repository with alternates, or whose packs this
reader cannot open, is read through cat-file alone (`open_packs` returns None).
"""

from __future__ import annotations

import array
import bisect
import collections
import contextlib
import mmap
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

try:  # dulwich's C extension: a delta loop written in Python is about 7x slower
    from dulwich._pack import apply_delta as _apply_delta
except ImportError:  # pragma: no cover - wheels ship the extension
    _apply_delta = None

_KINDS = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
_TREE, _OFS_DELTA, _REF_DELTA = 2, 6, 7
# Rebuilt objects kept per worker for the deltas that follow them in the pack.
CACHE_BYTES = 64 * 1024 * 1024


class PackError(Exception):
    """An entry this reader cannot rebuild; cat-file gets the object instead."""


@dataclass(slots=True)
class PackIndex:
    """One pack's objects in offset order: where each starts, and its name."""

    path: str
    offsets: array.array[int]  # ascending
    positions: array.array[int]  # for each, its row in the index's table of names
    names: bytes  # the index's table of names, `hash_size` bytes each
    hash_size: int

    def __len__(self) -> int:
        return len(self.offsets)

    def name(self, at: int) -> bytes:
        """The hex object ID of the object at sorted position `at`."""
        row = self.positions[at] * self.hash_size
        return self.names[row : row + self.hash_size].hex().encode()


@dataclass(frozen=True, slots=True)
class Share:
    """Objects [start, stop) of one pack (of `count` objects), in offset order: a task that
    a worker can check against the packs it opened itself."""

    path: str
    count: int
    start: int
    stop: int


def open_packs(git_dir: str, hash_size: int) -> list[PackIndex] | None:
    """The repository's packs, or None if they should be left to cat-file."""
    objects = os.path.join(git_dir, "objects")
    if _apply_delta is None or os.path.exists(os.path.join(objects, "info", "alternates")):
        return None
    packs = os.path.join(objects, "pack")
    try:
        names = sorted(n for n in os.listdir(packs) if n.endswith(".pack"))
    except OSError:
        return []
    found = []
    for name in names:
        try:
            found.append(_read_index(os.path.join(packs, name), hash_size))
        except (OSError, ValueError):
            return None
    return found


def _read_index(pack: str, hash_size: int) -> PackIndex:
    base = pack[: -len(".pack")]
    with open(base + ".idx", "rb") as handle:
        index = handle.read()
    if index[:8] != b"\xfftOc\x00\x00\x00\x02":
        raise ValueError(f"{base}.idx is not a version 2 pack index")
    count = int.from_bytes(index[8 + 255 * 4 : 8 + 256 * 4], "big")
    names_at = 8 + 256 * 4
    offsets_at = names_at + (hash_size + 4) * count  # names, then a CRC for each
    if len(index) < offsets_at + 4 * count + 2 * hash_size:
        raise ValueError(f"{base}.idx is truncated")
    small = array.array("I", index[offsets_at : offsets_at + 4 * count])
    if sys.byteorder == "little":
        small.byteswap()
    offsets = array.array("q", small)
    large_at = offsets_at + 4 * count
    for row, offset in enumerate(small):
        if offset & 0x80000000:  # packs over 2 GiB: the offset is in the table after
            at = large_at + 8 * (offset & 0x7FFFFFFF)
            offsets[row] = int.from_bytes(index[at : at + 8], "big")
    positions = _reverse_index(base, count, hash_size)
    if positions is None:
        positions = array.array("I", sorted(range(count), key=offsets.__getitem__))
    return PackIndex(
        path=pack,
        offsets=array.array("q", (offsets[row] for row in positions)),
        positions=positions,
        names=index[names_at : names_at + hash_size * count],
        hash_size=hash_size,
    )


def _reverse_index(base: str, count: int, hash_size: int) -> array.array[int] | None:
    """The rows of the index in offset order, from git's `.rev` file when there is one."""
    try:
        with open(base + ".rev", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if data[:8] != b"RIDX\x00\x00\x00\x01" or len(data) < 12 + 4 * count + 2 * hash_size:
        return None
    rows = array.array("I", data[12 : 12 + 4 * count])
    if sys.byteorder == "little":
        rows.byteswap()
    return rows


def shares(packs: list[PackIndex], size: int) -> Iterator[Share]:
    """Runs of about `size` bytes of pack data, in offset order."""
    for pack in packs:
        offsets, start = pack.offsets, 0
        while start < len(offsets):
            stop = bisect.bisect_left(offsets, offsets[start] + size, start + 1)
            yield Share(pack.path, len(pack), start, stop)
            start = stop


class PackReader:
    """Rebuilds packed objects, one worker's: its pack mappings and its cache of bases."""

    def __init__(self, packs: list[PackIndex]) -> None:
        self.packs = packs
        self._numbers = {pack.path: number for number, pack in enumerate(packs)}
        self._maps: dict[int, mmap.mmap] = {}
        self._kinds: dict[int, bytearray] = {}  # by pack: each object's type, 0 if not known
        self._cache: collections.OrderedDict[tuple[int, int], bytes] = collections.OrderedDict()
        self._cached = 0

    def close(self) -> None:
        for mapping in self._maps.values():
            mapping.close()
        self._maps.clear()
        self._cache.clear()

    def _map(self, number: int) -> mmap.mmap:
        mapping = self._maps.get(number)
        if mapping is None:
            with open(self.packs[number].path, "rb") as handle:
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._maps[number] = mapping
            self._kinds[number] = bytearray(len(self.packs[number]))
        return mapping

    def read(
        self, share: Share, whole: int, left_over: list[bytes]
    ) -> Iterator[tuple[bytes, bytes, bytes]]:
        """(object ID, type, content) of the share's blobs, commits and tags; trees are
        skipped. What this reader cannot rebuild, or what is larger than `whole`, goes to
        `left_over` (by object ID) for cat-file."""
        number = self._numbers.get(share.path)
        if number is None or len(self.packs[number]) != share.count:
            raise PackError(f"{share.path} changed during the scan")
        pack = self.packs[number]
        data = self._map(number)
        for at in range(share.start, share.stop):
            try:
                kind = self._kind(number, data, at)
                if kind == _TREE:
                    continue
                content = self._rebuild(number, data, at, whole)
            except Exception:  # damaged or beyond this reader (dulwich has its own errors)
                left_over.append(pack.name(at))
                continue
            yield pack.name(at), _KINDS[kind], content
        # Mapped pages count as this process's memory until they are let go (they stay in
        # the page cache): a worker then holds about a share of a pack, not all of it.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            data.madvise(mmap.MADV_DONTNEED)

    def _position(self, number: int, offset: int) -> int:
        offsets = self.packs[number].offsets
        at = bisect.bisect_left(offsets, offset)
        if at == len(offsets) or offsets[at] != offset:
            raise PackError("a delta's base is not where the index places an object")
        return at

    def _kind(self, number: int, data: mmap.mmap, at: int) -> int:
        """The type of the object at sorted position `at`; a delta has its base's type."""
        kinds = self._kinds[number]
        chain = []
        while not kinds[at]:
            kind, _, _, base = _header(data, self.packs[number].offsets[at])
            if kind == _REF_DELTA:
                raise PackError("a delta whose base is named: left to cat-file")
            if kind != _OFS_DELTA:
                if kind not in _KINDS:
                    raise PackError(f"unknown object type {kind}")
                kinds[at] = kind
                break
            chain.append(at)
            at = self._position(number, base)
        for link in chain:
            kinds[link] = kinds[at]
        return kinds[at]

    def _rebuild(self, number: int, data: mmap.mmap, at: int, whole: int) -> bytes:
        key = (number, at)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        offset = self.packs[number].offsets[at]
        end = self.packs[number].offsets[at + 1] if at + 1 < len(self.packs[number]) else None
        kind, start, size, base = _header(data, offset)
        if size > whole:  # an object, or a delta, too large to hold: cat-file streams it
            raise PackError("too large to hold")
        if kind != _OFS_DELTA:
            content = _inflate(data, start, end, size)
        else:
            delta = _inflate(data, start, end, size)
            if _delta_result_size(delta) > whole:
                raise PackError("its result is too large to hold")
            source = self._rebuild(number, data, self._position(number, base), whole)
            assert _apply_delta is not None
            result = _apply_delta(source, delta)
            content = result if isinstance(result, bytes) else b"".join(result)
        self._cache[key] = content
        self._cached += len(content)
        while self._cached > CACHE_BYTES and len(self._cache) > 1:
            self._cached -= len(self._cache.popitem(last=False)[1])
        return content


def _header(data: mmap.mmap, entry: int) -> tuple[int, int, int, int]:
    """An entry's type, where its zlib data starts, its inflated size, and for an offset
    delta the offset of its base (else -1)."""
    byte = data[entry]
    kind, size, shift, at = (byte >> 4) & 7, byte & 15, 4, entry + 1
    while byte & 0x80:
        byte = data[at]
        at += 1
        size |= (byte & 0x7F) << shift
        shift += 7
    if kind == _OFS_DELTA:
        byte = data[at]
        at += 1
        back = byte & 0x7F
        while byte & 0x80:
            byte = data[at]
            at += 1
            back = ((back + 1) << 7) | (byte & 0x7F)
        return kind, at, size, entry - back
    if kind == _REF_DELTA:
        at += 20  # a name this reader does not look up (see `_kind`)
    return kind, at, size, -1


def _inflate(data: mmap.mmap, start: int, end: int | None, size: int) -> bytes:
    stream = zlib.decompressobj()
    content = stream.decompress(data[start:end], size + 1)
    if len(content) != size or not stream.eof:
        raise PackError("an entry does not inflate to its recorded size")
    return content


def _delta_result_size(delta: bytes) -> int:
    """The size of a delta's result (the second number of its header)."""
    at = 0
    for _ in range(2):
        size = shift = 0
        while True:
            byte = delta[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
    return size
