"""Keys that hide: content inside archives and compressed files, and text behind an encoding.

`Decoder.expand` turns one blob's bytes into the derived contents worth scanning too, each with
the steps that reached it (`("gzip", "tar:config/app.yaml", "base64")`):

- containers, by their magic bytes: gzip, bzip2, xz, zip (jar, whl, docx, xlsx…) and tar,
  recursively, under depth, size and ratio limits (a bomb costs a warning, never the memory);
- encodings, only where a cheap trigger says one may hide a key: base64 runs (the encodings of
  key prefixes and AWS keywords at all three alignments, or a value the size of an encoded
  secret), URL encoding, JSON/JavaScript/C string escapes, HTML character references, and
  UTF-16/UTF-32 text (whole files without a byte-order mark, or runs inside binary files).

In-place decodings keep every newline, so their lines are the blob's own; a decoded run that
holds newlines becomes content of its own, placed at the run's line. Decoded values still go
through every rule's entropy and format checks: decoding never makes noise a finding.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import io
import lzma
import re
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from keyscan import hsdb
from keyscan.findings import PAIR_LINES

Warn = Callable[[str], None]

MAX_DEPTH = 4  # containers inside containers
MAX_ENCODING_DEPTH = 2  # an encoding inside an encoding ("nested once more")
MAX_OUTPUT = 64 * 1024 * 1024  # decompressed bytes per scanned blob, all members together
MAX_RATIO = 200  # decompressed / compressed, checked past RATIO_GRACE
RATIO_GRACE = 1024 * 1024
MAX_MEMBERS = 10_000
MIN_BASE64 = 16  # shortest base64 run decoded (12 bytes)
MAX_INLINE = 8192  # longest single-line decoding substituted in place


@dataclass(frozen=True, slots=True)
class Derived:
    """Content found inside a blob: where it starts (lines and columns before it in the blob,
    or in the innermost archive member) and how it was reached."""

    data: bytes
    steps: tuple[str, ...]
    line: int = 0
    column: int = 0


# --- Triggers: one cheap pass says which decodings may be worth it ---------------------------

_MARKERS = (b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"ABSK", b"aws_", b"AWS_", b"secret", b"SECRET",
            b"Secret", b"aws", b"AWS")  # fmt: skip
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _base64_forms(word: bytes) -> list[bytes]:
    """The base64 characters that `word` alone determines, at each of the 3 alignments."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + word + b"\0\0")
        first = -(-shift * 8 // 6)  # the first character with no bit from the padding before
        last = (shift + len(word)) * 8 // 6  # characters before this one hold only word bits
        forms.append(encoded[first:last])
    return [f for f in forms if len(f) >= 3]


def _literal(text: bytes) -> bytes:
    """A pattern for exactly `text`, as hex escapes (hyperscan patterns are C strings: a NUL
    byte would end them)."""
    return b"".join(b"\\x%02x" % c for c in text)


def _triggers() -> list[tuple[str, bytes]]:
    """(decoding, hyperscan-and-`re` pattern) pairs."""
    out = [("base64", _literal(form)) for word in _MARKERS for form in _base64_forms(word)]
    # Encoded twice (a base64 value inside a base64'd file): the forms of the forms.
    for word in (b"AKIA", b"ASIA", b"aws_", b"AWS_"):
        for form in _base64_forms(word):
            out += [("base64", _literal(f)) for f in _base64_forms(form) if len(f) >= 4]
    # A value the size of an encoded secret (40 bytes: 54 characters and ==), e.g. a
    # Kubernetes Secret's AWS_SECRET_ACCESS_KEY. (Requiring a keyword before it made the pass
    # 40% slower: hyperscan finds "==" and checks 54 characters back cheaply.)
    out.append(("base64", rb"[^A-Za-z0-9+/][A-Za-z0-9+/]{54}=="))
    # Only escapes of what keys are made of beyond letters and digits (/ + =), and only beside
    # four letters or digits: inside a key, some escape always is (a key is at least 16 long),
    # while escaped binary data (go-bindata's \x8b\x2f\x00...) never is.
    escapes = [
        ("url", rb"%2[BbFf]|%3[Dd]"),
        ("escape", rb"\\/|\\u00(?:2[BbFf]|3[Dd])|\\x(?:2[BbFf]|3[Dd])"),
        ("html", rb"&#(?:43|47|61);|&#[xX]0*(?:2[BbFf]|3[Dd]);|&(?:sol|plus|equals);"),
    ]
    out += [(kind, rb"[A-Za-z0-9]{4}(?:%s)|(?:%s)[A-Za-z0-9]{4}" % (e, e)) for kind, e in escapes]
    for word in (b"AKIA", b"ASIA", b"aws_", b"AWS_", b"ABSK"):
        out.append(("utf16", _literal(b"\0".join(bytes([c]) for c in word) + b"\0")))
        out.append(("utf16", _literal(b"\0" + b"\0".join(bytes([c]) for c in word))))
    # A key ID inside binary content (SQLite, .pyc), maybe glued to the bytes around it.
    out += [("binary", rb"(?:AKIA|ASIA)[A-Z2-7]{16}")]
    return out


TRIGGERS = _triggers()
# Decodings applied only around their hits: they report every hit, the others their first.
_EVERY_HIT = frozenset({"base64", "url", "escape", "html"})
KINDS = tuple(dict.fromkeys(kind for kind, _ in TRIGGERS))


class Decoder:
    """Finds which decodings a blob may need, in one pass, and expands the blob."""

    def __init__(self, engine: str = "auto") -> None:
        self._engine = engine

    @cached_property
    def _hs_db(self) -> Any:
        """The triggers' own database, built on first use: a matcher's pass usually finds
        them (`kinds_from`), and only decoded content is searched here."""
        hs = hsdb.hyperscan() if self._engine != "regex" else None
        if hs is None:
            return None
        # Base64 triggers report every hit: only the runs around them are decoded.
        flags = [0 if kind in _EVERY_HIT else hs.HS_FLAG_SINGLEMATCH for kind, _ in TRIGGERS]
        return hsdb.block_database(hs, [p for _, p in TRIGGERS], flags)

    @cached_property
    def _patterns(self) -> list[tuple[str, re.Pattern[bytes]]]:
        """Without hyperscan: one search per trigger (each fast: a literal, or a regex that
        starts with one); a single alternation of them all would be far slower."""
        return [(kind, re.compile(p)) for kind, p in TRIGGERS]

    @property
    def extra(self) -> list[tuple[bytes, bool]]:
        """The triggers, for a matcher to scan in its own pass (see `kinds_from`): base64
        triggers report every hit, the others their first."""
        return [(pattern, kind in _EVERY_HIT) for kind, pattern in TRIGGERS]

    @staticmethod
    def kinds_from(hits: list[tuple[int, int]]) -> dict[str, list[int]]:
        """`kinds`, from the (trigger index, end) hits a matcher's pass reported."""
        found: dict[str, list[int]] = {}
        for index, end in hits:
            found.setdefault(TRIGGERS[index][0], []).append(end)
        return found

    def kinds(self, data: bytes) -> dict[str, list[int]]:
        """The decodings whose trigger occurs in `data`; for base64, where each hit ends."""
        found: dict[str, list[int]] = {}
        if self._hs_db is not None:

            def on_match(index: int, start: int, end: int, flags: int, context: Any) -> None:
                found.setdefault(TRIGGERS[index][0], []).append(end)

            self._hs_db.scan(data, match_event_handler=on_match)
        else:
            for kind, pattern in self._patterns:
                if kind in _EVERY_HIT:
                    ends = [m.end() for m in pattern.finditer(data)]
                    if ends:
                        found.setdefault(kind, []).extend(ends)
                elif kind not in found and pattern.search(data):
                    found[kind] = []
        return found

    def expand(
        self, data: bytes, warn: Warn, name: str = "", containers: bool = True,
        kinds: dict[str, list[int]] | None = None,
    ) -> Iterator[Derived]:  # fmt: skip
        """Every derived content of `data` (not `data` itself), depth first. `containers`:
        whether `data` is whole (a chunk of a large file is not an archive); `kinds`: the
        triggers in `data`, if a matcher's pass already found them."""
        if kinds is None:
            kinds = self.kinds(data)
        if not self.worth(data, kinds, containers):
            return iter(())
        return self._expand(data, (), 0, 0, _Budget(warn, name), containers, kinds)

    @staticmethod
    def worth(data: bytes, kinds: dict[str, list[int]], containers: bool = True) -> bool:
        """Whether `data`, with these triggers in it, may hold anything to decode (most blobs
        do not: telling that must cost next to nothing)."""
        return bool(kinds) or (containers and is_container(data)) or data.find(b"\0", 0, 512) >= 0

    def _expand(
        self, data: bytes, steps: tuple[str, ...], depth: int, encodings: int, budget: _Budget,
        containers: bool = True, kinds: dict[str, list[int]] | None = None,
    ) -> Iterator[Derived]:  # fmt: skip
        members = None
        if containers and is_container(data):
            if depth >= MAX_DEPTH:
                budget.stop(f"archives nested deeper than {MAX_DEPTH} levels are not opened", steps)
            else:
                members = _container(data, steps, budget)
        if members is not None:
            for member, label in members:
                inner = (*steps, label)
                yield Derived(member, inner)
                yield from self._expand(member, inner, depth + 1, 0, budget)
            return
        wide = _wide_text(data)
        if wide is not None:
            decoded, label = wide
            yield Derived(decoded, (*steps, label))
            yield from self._expand(decoded, (*steps, label), depth, encodings, budget)
            return
        if encodings >= MAX_ENCODING_DEPTH:
            return
        if kinds is None:
            kinds = self.kinds(data)
        if not kinds:
            return
        for child in _decode_text(data, kinds):
            inner = (*steps, *child.steps)
            yield Derived(child.data, inner, child.line, child.column)
            for grandchild in self._expand(child.data, inner, depth, encodings + 1, budget):
                yield Derived(
                    grandchild.data, grandchild.steps, child.line + grandchild.line,
                    grandchild.column if grandchild.line else child.column + grandchild.column,
                )  # fmt: skip
        if "utf16" in kinds:
            for run_line, run in _utf16_runs(data):
                yield Derived(run, (*steps, "utf-16"), run_line)
        if "binary" in kinds and b"\0" in data[:8192]:
            yield Derived(_strings(data), (*steps, "strings"))


# --- Containers -----------------------------------------------------------------------------


class _Budget:
    """Decompressed bytes left for one scanned blob; warns once when it runs out."""

    def __init__(self, warn: Warn, name: str) -> None:
        self.left = MAX_OUTPUT
        self.warn = warn
        self.name = name
        self.warned = False

    def stop(self, why: str, steps: tuple[str, ...]) -> None:
        if not self.warned:
            where = " › ".join((self.name or "content", *steps))
            self.warn(f"{where}: {why}; the rest of it is not scanned")
            self.warned = True


def is_container(data: bytes) -> bool:
    """Whether `data` starts as an archive or a compressed file does (checked well enough
    that random bytes, e.g. decoded base64 noise, almost never pass)."""
    head = data[:10]
    return (
        (head[:3] == b"\x1f\x8b\x08" and len(head) > 3 and head[3] < 0x20)
        or (head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] == b"1AY&SY")
        or head[:6] == b"\xfd7zXZ\x00"
        or head[:4] == b"PK\x03\x04"
        or (len(data) > 262 and data[257:262] == b"ustar")
    )


def _container(
    data: bytes, steps: tuple[str, ...], budget: _Budget
) -> list[tuple[bytes, str]] | None:
    """The members of an archive or the content of a compressed file; None if neither."""
    head = data[:6]
    try:
        if head.startswith(b"\x1f\x8b"):
            out = _inflate(zlib.decompressobj(wbits=31).decompress, data, steps, budget, "gzip")
            return [(out, "gzip")]
        if head.startswith(b"BZh") and len(data) > 10 and data[4:10] == b"1AY&SY":
            out = _inflate(bz2.BZ2Decompressor().decompress, data, steps, budget, "bzip2")
            return [(out, "bzip2")]
        if head == b"\xfd7zXZ\x00":
            out = _inflate(lzma.LZMADecompressor().decompress, data, steps, budget, "xz")
            return [(out, "xz")]
        if head.startswith(b"PK\x03\x04"):
            return _zip_members(data, steps, budget)
        if len(data) > 262 and data[257:262] == b"ustar":
            return _tar_members(data, steps, budget)
    except _unpack_errors() as exc:
        if not steps or steps[-1] != "base64":  # decoded noise that looked like an archive
            budget.warn(
                f"{' › '.join((budget.name or 'content', *steps))}: cannot be unpacked "
                f"({_reason(exc)}); scanned as it is"
            )
    return None


def _unpack_errors() -> tuple[type[Exception], ...]:
    """What a corrupt archive or compressed stream raises. A function, and tarfile and zipfile
    imported in the functions that use them: most scans meet no archive, and importing the two
    would cost every start-up about 10 ms (an `except` clause is evaluated only when an
    exception is being handled). bz2, lzma and urllib.parse are loaded at start-up anyway."""
    import tarfile
    import zipfile

    return (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError, zipfile.BadZipFile,
            tarfile.TarError, NotImplementedError, RuntimeError)  # fmt: skip


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _inflate(
    decompress: Callable[[bytes, int], bytes],
    data: bytes, steps: tuple[str, ...], budget: _Budget, label: str,
) -> bytes:  # fmt: skip
    """Decompress at most what the budget and the ratio limit allow."""
    cap = min(budget.left, max(RATIO_GRACE, len(data) * MAX_RATIO))
    out = decompress(data, cap + 1)
    if len(out) > cap:
        out = out[:cap]
        why = "over the size limit" if cap == budget.left else "over the compression-ratio limit"
        budget.stop(f"{label} content {why} (a decompression bomb?)", steps)
    budget.left -= len(out)
    return out


def _zip_members(data: bytes, steps: tuple[str, ...], budget: _Budget) -> list[tuple[bytes, str]]:
    import zipfile

    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for number, info in enumerate(archive.infolist()):
            if info.is_dir() or info.flag_bits & 0x1:  # folders; encrypted members
                continue
            if number >= MAX_MEMBERS:
                budget.stop(f"more than {MAX_MEMBERS} members", steps)
                break
            cap = min(budget.left, max(RATIO_GRACE, info.compress_size * MAX_RATIO))
            try:
                with archive.open(info) as member:
                    content = member.read(cap + 1)  # the header's size may lie
            except _unpack_errors() as exc:  # one bad member: the others are still scanned
                budget.warn(
                    f"{' › '.join((budget.name or 'content', *steps, info.filename))}: cannot "
                    f"be unpacked ({_reason(exc)}); skipped"
                )
                continue
            if len(content) > cap:
                budget.stop(f"zip member {info.filename} over the size or ratio limit", steps)
                break
            budget.left -= len(content)
            members.append((content, f"zip:{info.filename}"))
    return members


def _tar_members(data: bytes, steps: tuple[str, ...], budget: _Budget) -> list[tuple[bytes, str]]:
    import tarfile

    members = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for number, info in enumerate(archive):
            if not info.isfile():
                continue
            if number >= MAX_MEMBERS:
                budget.stop(f"more than {MAX_MEMBERS} members", steps)
                break
            if info.size > budget.left:
                budget.stop(f"tar member {info.name} over the size limit", steps)
                break
            handle = archive.extractfile(info)
            if handle is None:
                continue
            content = handle.read()
            budget.left -= len(content)
            members.append((content, f"tar:{info.name}"))
    return members


# --- Text encodings -------------------------------------------------------------------------


def _wide_text(data: bytes) -> tuple[bytes, str] | None:
    """UTF-16 or UTF-32 text without a byte-order mark, told by where its zero bytes fall."""
    head = data[:512]
    if len(head) < 16 or b"\0" not in head:
        return None
    n = len(head) - len(head) % 4
    quads = [head[i:n:4].count(0) for i in range(4)]
    per = n // 4
    if quads[1] == quads[2] == quads[3] == per and quads[0] < per // 4:
        codec = "utf-32-le"
    elif quads[0] == quads[1] == quads[2] == per and quads[3] < per // 4:
        codec = "utf-32-be"
    elif quads[1] + quads[3] >= 1.8 * per and quads[0] + quads[2] < per // 4:
        codec = "utf-16-le"
    elif quads[0] + quads[2] >= 1.8 * per and quads[1] + quads[3] < per // 4:
        codec = "utf-16-be"
    else:
        return None
    size = 4 if "32" in codec else 2
    text = data[: len(data) - len(data) % size].decode(codec, "replace")
    return text.encode("utf-8"), codec.removesuffix("-le").removesuffix("-be")


_PRINTABLE = frozenset(range(0x20, 0x7F)) | {9, 10, 13}
_URL = re.compile(rb"%([0-9A-Fa-f]{2})")
_ESCAPE = re.compile(rb"\\(?:u00([0-9A-Fa-f]{2})|x([0-9A-Fa-f]{2})|(/))")
_HTML = re.compile(rb"&#(?:([0-9]{1,3})|[xX]([0-9A-Fa-f]{1,2}));|&(sol|plus|equals|amp);")
_NAMED = {b"sol": b"/", b"plus": b"+", b"equals": b"=", b"amp": b"&"}
_KEEP = {0, 10, 13}  # never decoded: they would move lines, or end a string early


def _byte(code: bytes, base: int, whole: bytes) -> bytes:
    value = int(code, base)
    return whole if value in _KEEP or value > 0x7F else bytes([value])


# An in-place decoding: start, end, the decoded bytes, the decodings that made them.
Span = tuple[int, int, bytes, tuple[str, ...]]
_ORDER = ("url", "escape", "html", "base64")


def _decode_text(data: bytes, kinds: dict[str, list[int]]) -> Iterator[Derived]:
    """In-place decodings, each as the few lines around it (see `_windows`), and decoded
    runs that hold lines of their own.

    URL encoding, escapes and HTML references are decoded only in the tokens (runs without
    spaces or quotes) that hold a trigger hit: a large file full of them costs no more than
    its few tokens that may be keys."""
    hits = sorted(
        hit for kind in ("url", "escape", "html") for hit in kinds.get(kind, ())
    )  # fmt: skip
    if hits:
        spans: list[Span] = []
        for start, end in _tokens_at(data, hits):
            decoded, steps = _unescape(data[start:end])
            if steps:
                spans.append((start, end, decoded, steps))
        yield from _windows(data, spans)
    if "base64" in kinds:
        yield from _base64(data, kinds["base64"])


def _windows(data: bytes, spans: list[Span]) -> Iterator[Derived]:
    """The lines around in-place decodings, decoded, each group of nearby ones as content of
    its own at its first line. Only the lines a match could pair across (PAIR_LINES) are
    kept: the rest of the blob is the plain blob's, scanned already, so a large file with a
    few encoded values costs its few windows, not copies of itself."""
    lines = counted = 0  # newlines in data[:counted], counted forward only once
    i = 0
    while i < len(spans):
        low = _lines_above(data, spans[i][0])
        pieces: list[bytes] = []
        steps: set[str] = set()
        last, high = low, -1
        while i < len(spans) and (high < 0 or spans[i][0] < high):
            start, end, decoded, how = spans[i]
            pieces += (data[last:start], decoded)
            steps.update(how)
            last, high = end, _lines_below(data, end)
            i += 1
        pieces.append(data[last:high])
        lines += data.count(b"\n", counted, low)
        counted = low
        yield Derived(b"".join(pieces), ("+".join(k for k in _ORDER if k in steps),), lines)


def _lines_above(data: bytes, at: int) -> int:
    """Where the line PAIR_LINES lines above the one holding `at` starts."""
    for _ in range(PAIR_LINES + 1):
        at = data.rfind(b"\n", 0, at)
        if at < 0:
            return 0
    return at + 1


def _lines_below(data: bytes, at: int) -> int:
    """Where the line PAIR_LINES lines below the one holding `at` ends (after its newline)."""
    for _ in range(PAIR_LINES + 1):
        at = data.find(b"\n", at) + 1
        if at == 0:
            return len(data)
    return at


_TOKEN_STOP = (b" ", b"\t", b"\r", b"\n", b'"', b"'", b"<", b">", b"`")
_MAX_TOKEN = 4096


def _tokens_at(data: bytes, hits: list[int]) -> list[tuple[int, int]]:
    """The tokens (start, end) that hold the hits, each once, in order."""
    tokens: list[tuple[int, int]] = []
    covered = -1
    for hit in hits:
        if hit <= covered:
            continue
        floor, ceiling = max(0, hit - _MAX_TOKEN), min(len(data), hit + _MAX_TOKEN)
        start = max(data.rfind(stop, floor, hit) + 1 for stop in _TOKEN_STOP)
        start = max(start, floor)
        ends = [data.find(stop, hit, ceiling) for stop in _TOKEN_STOP]
        end = min((e for e in ends if e >= 0), default=ceiling)
        tokens.append((start, end))
        covered = end
    return tokens


def _unescape(token: bytes) -> tuple[bytes, tuple[str, ...]]:
    """`token` with its URL encoding, escapes and HTML references decoded, and which of them
    changed it (none: empty)."""
    steps = []
    if b"%" in token:
        decoded = urllib.parse.unquote_to_bytes(token)  # far faster than a callback per escape
        if b"\n" in decoded or b"\r" in decoded or b"\0" in decoded:  # lines must not move
            decoded = _URL.sub(lambda m: _byte(m[1], 16, m[0]), token)
        if decoded != token:
            steps.append("url")
            token = decoded
    decoded = _ESCAPE.sub(lambda m: b"/" if m[3] else _byte(m[1] or m[2], 16, m[0]), token)
    if decoded != token:
        steps.append("escape")
        token = decoded
    decoded = _HTML.sub(
        lambda m: _NAMED[m[3]] if m[3] else _byte(m[1] or m[2], 10 if m[1] else 16, m[0]), token
    )
    if decoded != token:
        steps.append("html")
    return decoded, tuple(steps)


_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_MAX_RUN = 1 << 20  # a base64 run longer than this is not followed further


def _runs_at(data: bytes, hits: list[int]) -> list[tuple[int, int]]:
    """The base64 runs (start, end) that hold the trigger hits, each once, in order."""
    runs: list[tuple[int, int]] = []
    covered = -1
    for hit in sorted(hits):
        if hit <= covered:
            continue
        start = hit
        while start > 0 and data[start - 1] == 0x3D:  # a hit may end on the padding
            start -= 1
        floor = max(0, hit - _MAX_RUN)
        while start > floor and data[start - 1] in _B64_CHARS:
            start -= 1
        end, ceiling = hit, min(len(data), hit + _MAX_RUN)
        while end < ceiling and data[end] in _B64_CHARS:
            end += 1
        while end < len(data) and end - start < _MAX_RUN and data[end] == 0x3D:  # padding
            end += 1
        if end - start >= MIN_BASE64:
            runs.append((start, end))
        covered = end
    return runs


def _base64(data: bytes, hits: list[int]) -> Iterator[Derived]:
    """Decode the base64 runs holding a trigger hit: in place when a run decodes to one line
    (see `_windows`), else as content of its own at the run's line."""
    spans: list[Span] = []
    counted = lines = 0  # newlines in data[:counted], counted forward only once
    for start, end in _runs_at(data, hits):
        decoded = _b64decode(data[start:end])
        if decoded is None:
            continue
        archive = is_container(decoded)
        if archive or b"\n" in decoded or len(decoded) > MAX_INLINE:
            if archive or _printable(decoded):
                lines += data.count(b"\n", counted, start)
                counted = start
                column = start - (data.rfind(b"\n", 0, start) + 1)
                yield Derived(decoded, ("base64",), lines, column)
            continue
        if _printable(decoded):
            spans.append((start, end, decoded, ("base64",)))
    yield from _windows(data, spans)


def _b64decode(run: bytes) -> bytes | None:
    body = run.rstrip(b"=")
    if len(body) % 4 == 1:
        return None
    padded = body + b"=" * (-len(body) % 4)
    try:
        if b"-" in body or b"_" in body:
            if b"+" in body or b"/" in body:
                return None  # two alphabets at once: not base64
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _printable(decoded: bytes) -> bool:
    """Mostly text: random bytes decoded from noise are not (about 37% printable)."""
    if not decoded:
        return False
    good = sum(1 for b in decoded if b in _PRINTABLE)
    return good >= 0.95 * len(decoded)


_UTF16_RUN = re.compile(rb"(?:[\x09\x0a\x0d\x20-\x7e]\x00){8,}|(?:\x00[\x09\x0a\x0d\x20-\x7e]){8,}")


def _utf16_runs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """UTF-16 strings inside binary content (Windows executables, registry exports...)."""
    for m in _UTF16_RUN.finditer(data):
        run = m[0]
        codec = "utf-16-le" if run[1] == 0 else "utf-16-be"
        yield data.count(b"\n", 0, m.start()), run.decode(codec, "replace").encode("utf-8")


_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t]{6,}")
_GLUED_KEY_ID = re.compile(rb"(?:AKIA|ASIA)[A-Z2-7]{16}")


def _strings(data: bytes) -> bytes:
    """Printable runs of binary content, one per line (as `strings` prints them), with key
    IDs split from the bytes glued to them (a SQLite record's neighbouring column, a .pyc's
    next constant), so that their boundaries hold."""
    runs = (m[0] for m in _PRINTABLE_RUN.finditer(data))
    return b"\n".join(_GLUED_KEY_ID.sub(rb"\n\g<0>\n", run) for run in runs)
