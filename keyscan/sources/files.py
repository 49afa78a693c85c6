"""Blobs from files, folders and standard input.

Large files are cut into overlapping chunks so memory stays bounded; a match belongs to the
chunk its first byte is owned by, so the overlap never reports a match twice.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, Protocol

from keyscan.errors import SourceError
from keyscan.model import Blob, Provenance

STDIN = "-"
CHUNK = 16 * 1024 * 1024
# Longer than any rule's longest match, so a match that starts in one chunk ends inside it.
OVERLAP = 64 * 1024
# Bytes before a chunk's owned region kept as context: boundary assertions see real text, and a
# key ID and its secret a few lines apart pair up even when a chunk edge falls between them.
LOOKBEHIND = 8 * 1024

# Media formats that never hold text: skipping them saves time and avoids noise.
_MEDIA_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"OggS",
    b"ID3",  # MP3
    b"fLaC",
    b"wOFF",
    b"wOF2",
    b"\x1aE\xdf\xa3",  # Matroska / WebM
)

Warn = Callable[[str], None]


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def is_media(head: bytes) -> bool:
    if head.startswith(_MEDIA_MAGIC):
        return True
    # RIFF containers (WebP, WAV, AVI) and ISO media (MP4, MOV, HEIC) carry a tag at offset 4 or 8.
    riff = head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI ")
    return riff or head[4:8] == b"ftyp"


def _has_utf16_bom(head: bytes) -> bool:
    return head.startswith((b"\xff\xfe", b"\xfe\xff")) and not head.startswith(b"\xff\xfe\x00\x00")


class _Utf16Reader:
    """UTF-16 text (with a BOM) read as UTF-8, so that byte patterns see the characters."""

    def __init__(self, head: bytes, stream: Reader) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-16")("replace")
        self._stream = stream
        self._pending = self._decoder.decode(head).encode("utf-8")
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._done and (size < 0 or len(self._pending) < size):
            raw = self._stream.read(1 << 20)
            self._done = not raw
            self._pending += self._decoder.decode(raw, final=self._done).encode("utf-8")
        size = len(self._pending) if size < 0 else size
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


def check_paths(paths: Sequence[str]) -> None:
    """Fail before scanning anything if a named path does not exist."""
    for path in paths:
        if path != STDIN and not os.path.lexists(path):
            raise SourceError(
                f"path not found: {path}. Check the spelling, or pass - to read standard input."
            )


def _read_full(stream: Reader, size: int) -> bytes:
    """Read `size` bytes, or fewer only at end of input (pipes return short reads)."""
    parts, left = [], size
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def prepare(data: bytes) -> bytes | None:
    """Content that fits one chunk, as the matcher should see it; None to skip it."""
    if not data or is_media(data[:16]):
        return None
    if _has_utf16_bom(data):
        return _Utf16Reader(data, io.BytesIO()).read()
    return data


def read_chunks(stream: Reader, provenance: Provenance) -> Iterator[Blob]:
    """Yield the whole content as one blob, or overlapping chunks when it is large."""
    buf = _read_full(stream, CHUNK + OVERLAP)
    if not buf or is_media(buf[:16]):
        return
    if _has_utf16_bom(buf):
        stream = _Utf16Reader(buf, stream)
        buf = _read_full(stream, CHUNK + OVERLAP)
    if len(buf) <= CHUNK:
        yield Blob(buf, provenance)
        return
    offset = lines = column = owned_from = 0
    behind = min(LOOKBEHIND, CHUNK // 4)
    while True:
        need = owned_from + CHUNK + OVERLAP - len(buf)
        if need > 0:
            more = _read_full(stream, need)
            buf += more
            if len(more) < need:  # end of input: this chunk owns everything left
                yield Blob(buf, provenance, offset, lines, column, owned_from, len(buf))
                return
        owned_to = owned_from + CHUNK
        yield Blob(buf, provenance, offset, lines, column, owned_from, owned_to)
        # Keep some context before the next owned region, plus the overlap after it.
        keep_from = owned_to - behind
        lines += buf.count(b"\n", 0, keep_from)
        last_newline = buf.rfind(b"\n", 0, keep_from)
        # Columns on a line that began in an earlier chunk count on from there (in bytes).
        column = column + keep_from if last_newline < 0 else keep_from - last_newline - 1
        offset += keep_from
        buf = buf[keep_from:]
        owned_from = behind


def _open_regular(path: str, warn: Warn) -> BinaryIO | None:
    """Open a regular file without following a swap to a FIFO or device behind our back."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        warn(f"cannot read {path}: {exc.strerror}; skipped")
        return None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        warn(f"cannot read {path}: {exc.strerror}; skipped")
        return None
    if not stat.S_ISREG(mode):
        os.close(fd)
        warn(f"{path} is not a regular file (FIFO, socket or device); skipped")
        return None
    return os.fdopen(fd, "rb")


def _file_blobs(path: str, warn: Warn) -> Iterator[Blob]:
    stream = _open_regular(path, warn)
    if stream is None:
        return
    with stream:
        try:
            yield from read_chunks(stream, Provenance("file", path))
        except OSError as exc:
            warn(f"error while reading {path}: {exc.strerror}; the rest of it was skipped")


def _walk(root: str, warn: Warn) -> Iterator[str]:
    """Regular files under `root`, sorted, skipping .git and never following symlinks.

    A symlink either points inside the root, whose target is scanned where it lives, or out
    of it, where the user did not ask us to go; not following them also rules out loops.
    """

    def on_error(exc: OSError) -> None:
        warn(f"cannot list {exc.filename}: {exc.strerror}; skipped")

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError as exc:
                warn(f"cannot read {path}: {exc.strerror}; skipped")
                continue
            if stat.S_ISREG(mode):
                yield os.path.normpath(path)
            elif not stat.S_ISLNK(mode):  # symlinks are skipped on purpose, see above
                warn(f"{path} is not a regular file (FIFO, socket or device); skipped")


def iter_blobs(paths: Sequence[str], warn: Warn, stdin: BinaryIO | None = None) -> Iterator[Blob]:
    """Blobs for every file named or found under a named folder; `-` is standard input."""
    for path in paths:
        if path == STDIN:
            yield from read_chunks(stdin or sys.stdin.buffer, Provenance("stdin", None))
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            warn(f"cannot read {path}: {exc.strerror}; skipped")
            continue
        if stat.S_ISDIR(mode):
            for file_path in _walk(path, warn):
                yield from _file_blobs(file_path, warn)
        else:
            yield from _file_blobs(path, warn)
