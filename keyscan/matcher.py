"""Find rule matches in bytes: one prefilter pass over the whole blob, full patterns near hits.

hyperscan compiles every rule's prefilter into one database and reports, in a single pass,
where each rule could match. The full `regex` pattern then runs only in a window around those
hits. Without hyperscan the prefilters run as `regex` patterns instead; the windows and the
confirmation are the same code, so both engines give the same matches.

Every built-in pattern starts where its prefilter starts (a keyword or a key prefix, after
zero-width lookbehinds only), so a built-in rule's pattern is tried only at its hits' starts
instead of at every position of the window: most hits are a keyword with no credential after
it, and a session token's window is 4.5 KB long. A user's rule promises only its window, and
is searched across it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import regex

from keyscan import hsdb
from keyscan.errors import RuleError
from keyscan.model import Match
from keyscan.rules import Rule, default_patterns_dir

ENGINES = ("auto", "hyperscan", "regex")
# An extra expression scanned in the same pass as the prefilters (the decoder's triggers):
# the pattern, and whether every hit is wanted (else only the first).
Extra = tuple[bytes, bool]


def _anchored(rule: Rule) -> bool:
    """Whether every match of the rule starts where a prefilter hit starts: true of the
    built-in rules (see patterns/aws.toml), not promised by a user's rule."""
    try:
        return Path(rule.source).resolve().parent == default_patterns_dir().resolve()
    except (OSError, RuntimeError):
        return False


def _compile_hyperscan(
    hs: Any, rules: Sequence[Rule], anchored: Sequence[bool], extra: Sequence[Extra]
) -> Any:
    """One block-mode database for all prefilters, then the `extra` expressions.

    Anchored rules report where each hit starts (leftmost start; free on these prefilters).
    """
    expressions = [rule.prefilter.encode() for rule in rules] + [e for e, _ in extra]
    flags = [hs.HS_FLAG_SOM_LEFTMOST if anchor else 0 for anchor in anchored]
    flags += [0 if every else hs.HS_FLAG_SINGLEMATCH for _, every in extra]
    try:
        return hsdb.block_database(hs, expressions, flags)
    except hs.error as exc:
        bad = _first_bad_prefilter(hs, rules)
        raise RuleError(
            f"{bad}: prefilter is not valid hyperscan syntax ({exc}); "
            "simplify it (no lookaround or backreferences)"
        ) from None


def _first_bad_prefilter(hs: Any, rules: Sequence[Rule]) -> str:
    for rule in rules:
        try:
            hs.Database(mode=hs.HS_MODE_BLOCK).compile(expressions=[rule.prefilter.encode()])
        except hs.error:
            return f"rule {rule.id!r} in {rule.source}"
    return "a rule"


class Matcher:
    """Compiled rules, ready to scan many blobs. Not thread-safe: one per worker."""

    def __init__(
        self, rules: Sequence[Rule], engine: str = "auto", extra: Sequence[Extra] = ()
    ) -> None:
        """`extra` expressions ride along in the hyperscan pass: after `scan`, `extra_hits`
        holds their (index, end) hits. The regex engine ignores them (`extra_scanned` False)."""
        if engine not in ENGINES:
            raise RuleError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.rules = list(rules)
        self._anchored = [_anchored(rule) for rule in self.rules]
        self._db: Any = None
        self._prefilters: list[Any] = []
        self._raw_hits: list[tuple[int, int, int]] = []
        self.extra_hits: list[tuple[int, int]] = []
        self.extra_scanned = False
        hs = hsdb.hyperscan() if engine != "regex" else None
        if engine == "hyperscan" and hs is None:
            raise RuleError(
                "the hyperscan engine was asked for but `hyperscan` cannot be imported; "
                "`pip install hyperscan`, or use --engine regex"
            )
        if hs is not None and self.rules:
            self._db = _compile_hyperscan(hs, self.rules, self._anchored, extra)
            self.engine = "hyperscan"
            self.extra_scanned = bool(extra)
        else:
            self.engine = "regex"
            for rule in self.rules:
                try:
                    self._prefilters.append(regex.compile(rule.prefilter.encode()))
                except regex.error as exc:
                    raise RuleError(
                        f"rule {rule.id!r} in {rule.source}: prefilter does not compile: {exc}"
                    ) from None

    def _on_hit(self, index: int, start: int, end: int, _flags: int, _ctx: object) -> None:
        self._raw_hits.append((index, start, end))

    def _hits(self, data: bytes) -> dict[int, list[tuple[int, int]]]:
        """For each rule index, its prefilter hits as (start, end), ends ascending. A start is
        known only for anchored rules (else 0)."""
        hits: dict[int, list[tuple[int, int]]] = {}
        if self._db is not None:
            # One bound callback and one list for the matcher's life: most blobs have no hit,
            # and what a blob with none costs is what a history scan costs.
            raw = self._raw_hits
            raw.clear()
            self._db.scan(data, match_event_handler=self._on_hit)
            rules = len(self.rules)
            for index, start, end in raw:
                if index >= rules:
                    self.extra_hits.append((index - rules, end))
                    continue
                spans = hits.get(index)
                if spans is None:
                    hits[index] = [(start, end)]
                else:
                    spans.append((start, end))
        else:
            for index, prefilter in enumerate(self._prefilters):
                spans = [m.span() for m in prefilter.finditer(data, overlapped=True)]
                if spans:
                    spans.sort(key=lambda span: span[1])
                    hits[index] = spans
        return hits

    def scan(self, data: bytes) -> list[Match]:
        """Every match in `data`, ordered by position."""
        self.extra_hits.clear()
        if not data:
            return []
        hits = self._hits(data)
        if not hits:
            return []
        size = len(data)
        found: list[Match] = []
        for index, spans in hits.items():
            rule = self.rules[index]
            pattern = rule.compiled
            ends = [end for _, end in spans]
            windows = _windows(ends, rule.window_before, rule.window_after, size)
            if self._anchored[index]:
                starts = sorted({start for start, _ in spans})
                matches = _match_at(pattern, data, starts, windows)
            else:
                matches = [m for lo, hi in windows for m in pattern.finditer(data, lo, hi)]
            for m in matches:
                key_id = m.group("key_id") if "key_id" in pattern.groupindex else None
                secret = m.group("secret") if "secret" in pattern.groupindex else None
                found.append(
                    Match(
                        rule_id=rule.id,
                        kind=rule.kind,
                        start=m.start(),
                        end=m.end(),
                        key_id=key_id.decode("ascii", "replace") if key_id else None,
                        secret=secret.decode("ascii", "replace") if secret else None,
                    )
                )
        found.sort(key=lambda match: (match.start, match.rule_id))
        return found


def _match_at(
    pattern: Any, data: bytes, starts: list[int], windows: list[tuple[int, int]]
) -> list[Any]:
    """What `finditer` over each window finds, trying only the given starts: the same
    leftmost, non-overlapping matches when no match can start anywhere else."""
    found = []
    match = pattern.match
    k, n = 0, len(starts)
    for lo, hi in windows:
        free = lo  # matches do not overlap: the next one starts at or after the last one's end
        while k < n and starts[k] < hi:
            start = starts[k]
            k += 1
            if start >= free:
                m = match(data, start, hi)
                if m is not None:
                    found.append(m)
                    free = max(m.end(), start + 1)
    return found


def _windows(ends: list[int], before: int, after: int, size: int) -> list[tuple[int, int]]:
    """Merge [end - before, end + after] around every hit into disjoint windows."""
    merged: list[tuple[int, int]] = []
    lo = hi = -1
    for end in ends:
        a, b = max(0, end - before), min(size, end + after)
        if a <= hi:
            hi = max(hi, b)
        else:
            if hi >= 0:
                merged.append((lo, hi))
            lo, hi = a, b
    if hi >= 0:
        merged.append((lo, hi))
    return merged
