"""Feasibility probe for issue 3: scan a repository's packs without `git cat-file`.

Two forked workers rebuild every blob and commit of the repository's packs in this process
(zlib for the entries, dulwich's C `apply_delta` for the deltas, one base cache per worker),
walking the packs in offset order, and scan them with keyscan's hyperscan matcher. No
provenance, no reports, no loose objects: it measures what the reading and matching cost
once no pipe carries the blobs, next to the read limit measured in the same run.

    python -m venv /tmp/probe && /tmp/probe/bin/pip install -e . dulwich
    /tmp/probe/bin/python bench/pack_probe.py /work/.mirror/getmoto+moto/repo
"""

from __future__ import annotations

import argparse
import collections
import mmap
import multiprocessing
import resource
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

from dulwich._pack import apply_delta  # the C extension: a Python delta loop is ~7x slower

from keyscan.rules import load_rules
from keyscan.scan import ScanOptions, matcher_for

_OFS_DELTA, _REF_DELTA, _TREE = 6, 7, 2
_CACHE_BYTES = 96 << 20


class Pack:
    """One pack and its version-2 index (SHA-1 names)."""

    def __init__(self, pack: Path) -> None:
        index = pack.with_suffix(".idx").read_bytes()
        if index[:8] != b"\xfftOc\x00\x00\x00\x02":
            raise SystemExit(f"{pack}: not a version-2 index")
        count = struct.unpack(">I", index[8 + 255 * 4 : 8 + 256 * 4])[0]
        names_at = 8 + 256 * 4
        offsets_at = names_at + 24 * count  # names, then CRCs
        offsets = list(struct.unpack(f">{count}I", index[offsets_at : offsets_at + 4 * count]))
        large_at = offsets_at + 4 * count
        for i, offset in enumerate(offsets):
            if offset & 0x80000000:
                at = large_at + 8 * (offset & 0x7FFFFFFF)
                offsets[i] = struct.unpack(">Q", index[at : at + 8])[0]
        self.by_name = {index[names_at + 20 * i : names_at + 20 * i + 20]: offsets[i]
                        for i in range(count)}  # fmt: skip
        self.offsets = sorted(offsets)
        with open(pack, "rb") as handle:
            self.data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        bounds = [*self.offsets[1:], len(self.data) - 20]
        self.end = dict(zip(self.offsets, bounds, strict=True))
        self._cache: collections.OrderedDict[int, tuple[int, bytes]] = collections.OrderedDict()
        self._cached = 0

    def header(self, at: int) -> tuple[int, int, int | bytes | None]:
        """(type, where the zlib stream starts, base: an offset, a name or None)."""
        data = self.data
        byte = data[at]
        kind = (byte >> 4) & 7
        at += 1
        while byte & 0x80:
            byte = data[at]
            at += 1
        if kind == _OFS_DELTA:
            byte = data[at]
            at += 1
            back = byte & 0x7F
            while byte & 0x80:
                byte = data[at]
                at += 1
                back = ((back + 1) << 7) | (byte & 0x7F)
            return kind, at, back
        if kind == _REF_DELTA:
            return kind, at + 20, bytes(data[at : at + 20])
        return kind, at, None

    def read(self, offset: int) -> tuple[int, bytes]:
        """The object at `offset`, with deltas applied: (type, content)."""
        hit = self._cache.get(offset)
        if hit is not None:
            self._cache.move_to_end(offset)
            return hit
        kind, start, base = self.header(offset)
        content = zlib.decompressobj().decompress(self.data[start : self.end[offset]])
        if base is not None:
            base_at = offset - base if isinstance(base, int) else self.by_name[base]
            kind, source = self.read(base_at)
            result = apply_delta(source, content)
            content = result if isinstance(result, bytes) else b"".join(result)
        self._cache[offset] = (kind, content)
        self._cached += len(content)
        while self._cached > _CACHE_BYTES:
            self._cached -= len(self._cache.popitem(last=False)[1][1])
        return kind, content


def _work(opened: list[Pack], parts: list[tuple[int, int, int]], queue: Any) -> None:
    _, matcher = matcher_for(load_rules(), ScanOptions())
    objects = size = matched = 0
    for pack_no, lo, hi in parts:
        pack = opened[pack_no]
        for offset in pack.offsets[lo:hi]:
            if pack.header(offset)[0] == _TREE:
                continue
            kind, content = pack.read(offset)
            if kind == _TREE:
                continue
            objects += 1
            size += len(content)
            matched += bool(matcher.scan(content))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((objects, size, matched, usage.ru_utime + usage.ru_stime))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--step", type=int, default=4000, help="objects per share")
    args = parser.parse_args()
    git_dir = subprocess.run(["git", "-C", args.repo, "rev-parse", "--absolute-git-dir"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    packs = sorted(Path(git_dir, "objects", "pack").glob("*.pack"))

    started = time.perf_counter()
    opened = [Pack(p) for p in packs]  # before forking: the workers share the indexes
    counts = [len(pack.offsets) for pack in opened]
    shares: list[list[tuple[int, int, int]]] = [[] for _ in range(args.jobs)]
    turn = 0
    for pack_no, count in enumerate(counts):
        for lo in range(0, count, args.step):
            shares[turn % args.jobs].append((pack_no, lo, min(count, lo + args.step)))
            turn += 1
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_work, args=(opened, s, queue)) for s in shares]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    probe = time.perf_counter() - started

    started = time.perf_counter()
    subprocess.run(["git", "-C", args.repo, "cat-file", "--batch-all-objects", "--batch",
                    "--unordered"], stdout=subprocess.DEVNULL, check=True)  # fmt: skip
    limit = time.perf_counter() - started

    objects, size, matched, cpu = (sum(r[i] for r in results) for i in range(4))
    print(f"probe: {objects} blobs and commits, {size / 1e9:.2f} GB, {matched} with matches, "
          f"{probe:.2f} s ({cpu:.2f} CPU-s in workers)")  # fmt: skip
    print(f"read limit: {limit:.2f} s; probe / read limit = {probe / limit:.2f}")


if __name__ == "__main__":
    main()
