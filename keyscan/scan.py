"""The scan driver: source -> blobs -> matcher -> findings. No printing, no exit codes."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from keyscan.findings import FindingOptions, Sighting, collect_sightings, group_sightings
from keyscan.matcher import Matcher
from keyscan.model import Blob, ScanResult, ScanStats
from keyscan.rules import Rule
from keyscan.sources import files


@dataclass(frozen=True, slots=True)
class ScanOptions:
    findings: FindingOptions = field(default_factory=FindingOptions)
    engine: str = "auto"


def scan_blobs(
    blobs: Iterable[Blob], rules: Sequence[Rule], options: ScanOptions, warnings: list[str]
) -> ScanResult:
    matcher = Matcher(rules, options.engine)
    by_id = {rule.id: rule for rule in rules}
    stats = ScanStats()
    started = time.perf_counter()
    sightings: list[Sighting] = []
    for blob in blobs:
        owned_to = len(blob.data) if blob.owned_to is None else blob.owned_to
        if blob.owned_from == 0:  # the first chunk of a file counts the file
            stats.blobs += 1
        stats.bytes += owned_to - blob.owned_from
        matches = matcher.scan(blob.data, blob.owned_from, owned_to)
        if matches:
            sightings.extend(collect_sightings(blob, matches, by_id, options.findings))
    findings = group_sightings(sightings)
    stats.seconds = time.perf_counter() - started
    return ScanResult(findings=findings, stats=stats, warnings=warnings)


def scan_paths(
    paths: Sequence[str],
    rules: Sequence[Rule],
    options: ScanOptions,
    stdin: BinaryIO | None = None,
) -> ScanResult:
    """Scan files, folders and `-` (standard input)."""
    files.check_paths(paths)
    warnings: list[str] = []
    blobs = files.iter_blobs(paths, warnings.append, stdin=stdin)
    return scan_blobs(blobs, rules, options, warnings)
