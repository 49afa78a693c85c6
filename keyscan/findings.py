"""From matches to findings: filter, pair key IDs with secrets, group by credential, rate.

Per blob, `collect_sightings` turns matches into located sightings (the blob's bytes are needed
only here, for line numbers). Across blobs, `group_sightings` makes one `Finding` per
credential with every place it was seen.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from keyscan import filters, keyid
from keyscan.model import Blob, Finding, Kind, Location, Match, Provenance, Severity
from keyscan.rules import Rule

PAIR_RULE = "aws.access-key-pair"
PAIR_LINES = 5  # a key ID and a secret this close (in lines) in one blob are one credential
ALLOW_MARKER = b"keyscan:allow"  # on a finding's line, suppresses that location


@dataclass(frozen=True, slots=True)
class FindingOptions:
    include_identifiers: bool = False
    include_examples: bool = False


@dataclass(frozen=True, slots=True)
class Detection:
    """A credential found at a line and column of one blob, before provenance is attached.

    Workers that scan blobs in other processes send these back: small, and only for blobs
    that matched.
    """

    rule_id: str
    kind: Kind
    key_id: str | None
    secret: str | None
    example: bool
    line: int
    column: int
    allowed: bool = False  # an inline `keyscan:allow` on its line(s)
    decoded: tuple[str, ...] = ()  # see Location.decoded


@dataclass(frozen=True, slots=True)
class Sighting:
    """A credential seen at one location (after filtering, before grouping)."""

    rule_id: str
    kind: Kind
    key_id: str | None
    secret: str | None
    example: bool
    location: Location

    @classmethod
    def at(cls, d: Detection, provenance: Provenance) -> Sighting:
        location = Location(provenance, d.line, d.column, d.allowed, d.decoded)
        return cls(d.rule_id, d.kind, d.key_id, d.secret, d.example, location)


def _passes(match: Match, rule: Rule, options: FindingOptions) -> bool | None:
    """True: a credential. False: drop. None: a documentation example (kept only on request)."""
    if rule.identifier and not options.include_identifiers:
        return False
    values = [v for v in (match.key_id, match.secret) if v]
    if any(filters.is_example(v) for v in values):
        return None
    if match.secret is not None and len(match.secret) == 40 and filters.is_hex_hash(match.secret):
        return False
    if any(filters.is_placeholder(v) for v in values):
        return False
    measured = match.secret or match.key_id or ""
    return filters.shannon_entropy(measured) >= rule.entropy


class _LineIndex:
    """Line and column of byte offsets in one blob, counting newlines incrementally."""

    def __init__(self, blob: Blob) -> None:
        self._data = blob.data
        self._base_line = blob.line
        self._base_column = blob.column
        self._pos = 0
        self._lines = 0
        self._line_start = 0
        self._chars = 0  # characters from the current line's start to _pos

    def locate(self, offset: int) -> tuple[int, int]:
        data = self._data
        if offset < self._pos:  # callers go mostly forward; restart when they do not
            self._pos, self._lines, self._line_start, self._chars = 0, 0, 0, 0
        newline = data.rfind(b"\n", self._pos, offset)
        if newline >= 0:
            self._lines += data.count(b"\n", self._pos, offset)
            self._line_start = newline + 1
            self._chars = len(data[newline + 1 : offset].decode("utf-8", "replace"))
        else:  # same line as before: decode only what lies between
            self._chars += len(data[self._pos : offset].decode("utf-8", "replace"))
        self._pos = offset
        column = self._chars + 1
        if self._line_start == 0:  # the line began in an earlier chunk
            column += self._base_column
        return self._base_line + self._lines + 1, column


@dataclass(frozen=True, slots=True)
class _Located:
    match: Match
    example: bool
    line: int
    column: int
    allowed: bool

    def detection(self) -> Detection:
        m = self.match
        return Detection(
            m.rule_id, m.kind, m.key_id, m.secret, self.example, self.line, self.column,
            self.allowed,
        )  # fmt: skip


class _AllowedLines:
    """The lines of a blob that carry the inline allow marker, found in one pass (a blob may
    be one huge line with thousands of matches: no per-match search of the line)."""

    def __init__(self, data: bytes) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        at = data.find(ALLOW_MARKER)
        while at >= 0:
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end
            self._starts.append(data.rfind(b"\n", self._ends[-1] if self._ends else 0, at) + 1)
            self._ends.append(end)
            at = data.find(ALLOW_MARKER, end)

    def __call__(self, match: Match) -> bool:
        """Whether a line the match touches is marked."""
        i = bisect.bisect_right(self._starts, match.end) - 1
        return i >= 0 and self._ends[i] >= match.start


def _greedy(
    keys: list[_Located], secrets: list[_Located], key_first: bool
) -> list[tuple[int, int]]:
    """Closest first; ties go to the given order. Only keys within PAIR_LINES are looked at."""
    order = sorted(range(len(keys)), key=lambda i: keys[i].line)
    lines = [keys[i].line for i in order]
    candidates = []
    for si, s in enumerate(secrets):
        lo = bisect.bisect_left(lines, s.line - PAIR_LINES)
        hi = bisect.bisect_right(lines, s.line + PAIR_LINES)
        for ki in order[lo:hi]:
            k = keys[ki]
            wrong_order = 1 if (k.match.start > s.match.start) == key_first else 0
            gap = abs(s.match.start - k.match.start)
            candidates.append((abs(s.line - k.line), wrong_order, gap, si, ki))
    candidates.sort()
    used_s: set[int] = set()
    used_k: set[int] = set()
    chosen = []
    for *_, si, ki in candidates:
        if si not in used_s and ki not in used_k:
            used_s.add(si)
            used_k.add(ki)
            chosen.append((ki, si))
    return chosen


def _pair(keys: list[_Located], secrets: list[_Located]) -> list[tuple[int, Detection]]:
    """Pair each secret with the closest unpaired key ID within PAIR_LINES lines.

    Greedy over all candidate pairs, closest first; a key ID before its secret wins a tie, as
    in credentials files. What stays unpaired is reported alone. Each detection comes with
    its anchor: the offset of the key ID (or of the lone match) that places it.
    """
    key_first = _greedy(keys, secrets, key_first=True)
    secret_first = _greedy(keys, secrets, key_first=False)

    def score(pairs: list[tuple[int, int]]) -> tuple[int, int]:
        return (len(pairs), -sum(abs(keys[k].line - secrets[s].line) for k, s in pairs))

    chosen = secret_first if score(secret_first) > score(key_first) else key_first
    used_k = {ki for ki, _ in chosen}
    used_s = {si for _, si in chosen}
    out: list[tuple[int, Detection]] = []
    for ki, si in chosen:
        k, s = keys[ki], secrets[si]
        pair = Detection(
            PAIR_RULE, Kind.ACCESS_KEY_PAIR, k.match.key_id, s.match.secret,
            k.example or s.example, k.line, k.column, k.allowed or s.allowed,
        )  # fmt: skip
        out.append((k.match.start, pair))
    out.extend((k.match.start, k.detection()) for i, k in enumerate(keys) if i not in used_k)
    out.extend((s.match.start, s.detection()) for i, s in enumerate(secrets) if i not in used_s)
    return out


def detect(
    blob: Blob, matches: Iterable[Match], rules: dict[str, Rule], options: FindingOptions
) -> list[Detection]:
    """Filter one blob's matches, locate them, and pair lone key IDs with lone secrets.

    `matches` are all the matches in the blob's data, context included: a chunk of a large
    file pairs across its edges, then keeps only the detections anchored in what it owns.
    """
    kept: list[tuple[Match, bool]] = []
    for match in matches:
        verdict = _passes(match, rules[match.rule_id], options)
        if verdict is None and options.include_examples:
            kept.append((match, True))
        elif verdict:
            kept.append((match, False))
    if not kept:
        return []

    # A pair match already holds its key ID and secret: drop the lone matches of the same spans.
    pair_spans = [(m.start, m.end) for m, _ in kept if m.kind is Kind.ACCESS_KEY_PAIR]

    pair_spans.sort()
    pair_starts = [a for a, _ in pair_spans]

    def inside_pair(m: Match) -> bool:
        # Pair matches do not overlap: only the last one starting at or before m can hold it.
        i = bisect.bisect_right(pair_starts, m.start) - 1
        return m.kind is not Kind.ACCESS_KEY_PAIR and i >= 0 and m.end <= pair_spans[i][1]

    index = _LineIndex(blob)
    allowed = _AllowedLines(blob.data)
    located = [
        _Located(m, ex, *index.locate(m.start), allowed(m)) for m, ex in kept if not inside_pair(m)
    ]
    keys = [x for x in located if x.match.kind is Kind.ACCESS_KEY_ID]
    secrets = [x for x in located if x.match.kind is Kind.SECRET_ACCESS_KEY]
    lone = (Kind.ACCESS_KEY_ID, Kind.SECRET_ACCESS_KEY)
    anchored = [(x.match.start, x.detection()) for x in located if x.match.kind not in lone]
    anchored += _pair(keys, secrets)
    owned_to = len(blob.data) if blob.owned_to is None else blob.owned_to
    return [d for start, d in anchored if blob.owned_from <= start < owned_to]


def collect_sightings(
    blob: Blob, matches: Iterable[Match], rules: dict[str, Rule], options: FindingOptions
) -> list[Sighting]:
    """`detect`, placed at the blob's own provenance."""
    return [Sighting.at(d, blob.provenance) for d in detect(blob, matches, rules, options)]


def rate(
    kind: Kind, key_id: str | None, secret: str | None, example: bool, canary: bool
) -> Severity:
    """Severity without an inventory: complete credentials first, identifiers and decoys last."""
    if example or canary or kind is Kind.IDENTIFIER:
        return Severity.INFO
    if kind in (Kind.ACCESS_KEY_PAIR, Kind.SESSION_TOKEN):
        return Severity.CRITICAL
    if kind is Kind.BEDROCK_API_KEY:
        # Long-term keys (ABSK…) live until revoked; short-term ones expire within hours.
        return Severity.CRITICAL if secret and secret.startswith("ABSK") else Severity.HIGH
    if kind is Kind.ACCESS_KEY_ID:
        return (
            Severity.HIGH
            if keyid.key_type(key_id or "") in ("long_term", "a3t")
            else Severity.MEDIUM
        )
    return Severity.HIGH


def fingerprint(rule_id: str, key_id: str | None, secret: str | None) -> str:
    """Stable across runs and machines; a one-way hash, so it never reveals the secret."""
    text = "\0".join((rule_id, key_id or "", secret or ""))
    return hashlib.sha256(text.encode()).hexdigest()


def _key_type(kind: Kind, key_id: str | None, secret: str | None) -> str | None:
    if key_id:
        return keyid.key_type(key_id)
    if kind is Kind.BEDROCK_API_KEY and secret:
        return "bedrock_long_term" if secret.startswith("ABSK") else "bedrock_short_term"
    if kind is Kind.SESSION_TOKEN:
        return "session_token"
    return None


def group_sightings(sightings: Iterable[Sighting]) -> list[Finding]:
    """One finding per credential, most severe first, locations in the order first seen."""
    by_credential: dict[tuple[Kind, str | None, str | None], Finding] = {}
    seen_locations: dict[tuple[Kind, str | None, str | None], set[Location]] = {}
    for s in sightings:
        key = (s.kind, s.key_id, s.secret)
        finding = by_credential.get(key)
        if finding is None:
            account = keyid.decode_account_id(s.key_id) if s.key_id else None
            canary = keyid.is_canary_account(account)
            measured = s.secret or s.key_id or ""
            finding = Finding(
                rule_id=s.rule_id,
                kind=s.kind,
                key_id=s.key_id,
                secret=s.secret,
                severity=rate(s.kind, s.key_id, s.secret, s.example, canary),
                key_type=_key_type(s.kind, s.key_id, s.secret),
                account_id=account,
                canary=canary,
                example=s.example,
                entropy=round(filters.shannon_entropy(measured), 2),
                fingerprint=fingerprint(s.rule_id, s.key_id, s.secret),
            )
            by_credential[key] = finding
            seen_locations[key] = set()
        if s.location not in seen_locations[key]:
            seen_locations[key].add(s.location)
            finding.locations.append(s.location)
    return sort_findings(by_credential.values())


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; among equals, a root key before the rest (it should not exist)."""

    def order(f: Finding) -> tuple[int, bool, str, int, str]:
        first = f.locations[0] if f.locations else None
        path = (first.provenance.path or "") if first else ""
        root = f.inventory is not None and f.inventory.status in ("root", "probable_root")
        return (-f.severity, not root, path, first.line if first else 0, f.fingerprint)

    return sorted(findings, key=order)
