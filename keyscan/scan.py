"""The scan driver: source -> blobs -> matcher -> findings. No printing, no exit codes.

Files, folders and standard input are scanned here; git repositories by `keyscan.history`,
which owns the only concurrency in the pipeline. Both feed one `ScanState`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from keyscan.decode import Decoder, is_container
from keyscan.errors import SourceError
from keyscan.findings import Detection, FindingOptions, Sighting, detect, group_sightings
from keyscan.matcher import Matcher
from keyscan.model import Blob, Finding, Kind, ScanResult, ScanStats
from keyscan.rules import Rule
from keyscan.sources import files, git
from keyscan.suppress import Suppression, apply


@dataclass(frozen=True, slots=True)
class ScanOptions:
    findings: FindingOptions = field(default_factory=FindingOptions)
    engine: str = "auto"
    history: bool = True  # a git repository: scan its object database
    worktree: bool = True  # ... and its uncommitted and untracked files
    revs: tuple[str, ...] = ()  # limit history to the commits these select (rev-list syntax)
    jobs: int = 0  # worker processes for history; 0: one per core
    max_locations: int | None = None
    recurse_submodules: bool = False
    decode: bool = True  # look inside archives, compressed files and encodings
    suppression: Suppression = field(default_factory=Suppression)


@dataclass(slots=True)
class Progress:
    """What a progress display shows; the CLI renders it, the library only counts."""

    objects: int = 0
    total_objects: int = 0
    bytes: int = 0
    total_bytes: int = 0
    detections: int = 0
    started: float = field(default_factory=time.perf_counter)


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class ScanState:
    """State of one scan across all the paths it was given."""

    rules: Sequence[Rule]
    options: ScanOptions
    progress: ProgressCallback | None
    matcher: Matcher
    decoder: Decoder | None = None
    # Incremental scans: which of the listed objects are known clean (read no more), and the
    # objects this scan read and found clean.
    skip: Callable[[list[bytes]], set[bytes]] | None = None
    clean: list[bytes] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)
    warnings: list[str] = field(default_factory=list)

    @property
    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def scan_blobs(self, blobs: Iterable[Blob]) -> None:
        by_id = self.by_id
        for blob in blobs:
            owned_to = len(blob.data) if blob.owned_to is None else blob.owned_to
            if blob.owned_from == 0:  # the first chunk of a file counts the file
                self.stats.blobs += 1
            self.stats.bytes += owned_to - blob.owned_from
            detections = detect_blob(
                blob, self.matcher, by_id, self.options, self.decoder, self.warnings.append
            )
            self.sightings.extend(Sighting.at(d, blob.provenance) for d in detections)


def detect_blob(
    blob: Blob,
    matcher: Matcher,
    by_id: dict[str, Rule],
    options: ScanOptions,
    decoder: Decoder | None,
    warn: Callable[[str], None],
    name: str | None = None,
) -> list[Detection]:
    """A blob's detections, and those in what decoding finds inside it (archive members,
    base64 runs...) that its plain bytes do not already show at the same line. `name` names
    the blob in warnings (default: its path)."""
    matches = matcher.scan(blob.data)
    found = detect(blob, matches, by_id, options.findings) if matches else []
    if decoder is None:
        return found
    whole = blob.offset == 0 and blob.owned_to is None
    kinds = decoder.kinds_from(matcher.extra_hits) if matcher.extra_scanned else None
    if kinds is not None and not decoder.worth(blob.data, kinds, whole):
        return found  # most blobs: nothing to decode
    seen = {(d.rule_id, d.key_id, d.secret, d.line) for d in found}
    plain = {(d.rule_id, d.key_id, d.secret) for d in found}
    name = name or blob.provenance.path or ""
    decoded: list[Detection] = []
    # Steps of the archives (and compressed tar files) whose bytes showed a credential plainly.
    archives: set[tuple[str, ...]] = {()} if whole and is_container(blob.data) else set()
    for derived in decoder.expand(blob.data, warn, name, containers=whole, kinds=kinds):
        data = files.prepare(derived.data)
        if data is None:
            continue
        matches = matcher.scan(data)
        if not matches:
            continue
        if is_container(data):
            archives.add(derived.steps)
        inner = Blob(data, blob.provenance, line=blob.line + derived.line, column=derived.column)
        lines_kept = derived.steps[-1] != "strings"  # strings: lines of its own making
        for d in detect(inner, matches, by_id, options.findings):
            key = (d.rule_id, d.key_id, d.secret, d.line)
            if key in seen or (not lines_kept and key[:3] in plain):
                continue
            seen.add(key)
            decoded.append(replace(d, decoded=derived.steps))
    found += decoded
    if archives:
        # An archive that stores members as they are (tar; zip "stored") shows their bytes
        # plainly too: only the member's location, with its own lines, is reported.
        members: dict[tuple[str | None, ...], set[tuple[str, ...]]] = {}
        for d in decoded:
            members.setdefault((d.rule_id, d.key_id, d.secret), set()).add(d.decoded)

        def in_member(d: Detection) -> bool:
            n = len(d.decoded)
            chains = members.get((d.rule_id, d.key_id, d.secret), set())
            return any(len(c) > n and c[:n] == d.decoded for c in chains)

        found = [d for d in found if d.decoded not in archives or not in_member(d)]
    # A pair found decoded holds what the plain bytes showed alone (a key ID next to a
    # URL-encoded secret): the lone half at that line is the pair's, not a finding of its own.
    pairs = {(d.key_id, d.line) for d in found if d.kind is Kind.ACCESS_KEY_PAIR}
    pairs |= {(d.secret, d.line) for d in found if d.kind is Kind.ACCESS_KEY_PAIR}
    return [
        d
        for d in found
        if d.kind is Kind.ACCESS_KEY_PAIR or (d.key_id or d.secret, d.line) not in pairs
    ]


def scan_blobs(
    blobs: Iterable[Blob], rules: Sequence[Rule], options: ScanOptions, warnings: list[str]
) -> ScanResult:
    """Scan blobs from any source (used by tests and by sources outside this module)."""
    state = _state(rules, options, None)
    state.warnings = warnings
    started = time.perf_counter()
    state.scan_blobs(blobs)
    return _finish(state, started)


def scan_paths(
    paths: Sequence[str],
    rules: Sequence[Rule],
    options: ScanOptions,
    stdin: BinaryIO | None = None,
    progress: ProgressCallback | None = None,
) -> ScanResult:
    """Scan files, folders, git repositories and `-` (standard input)."""
    files.check_paths(paths)
    started = time.perf_counter()
    state = _state(rules, options, progress)
    plain: list[str] = []
    for path in paths:
        repo = None
        if options.history and path != files.STDIN and os.path.isdir(path):
            repo = git.open_repo(path)
        if repo is not None:
            from keyscan.history import scan_repository  # file-only scans never pay for it

            scan_repository(state, repo, path)
        elif options.revs:
            raise SourceError(
                f"{path} is not a git repository, so --since-commit, --range and --branch "
                "do not apply; name the repository's top folder, or drop those options"
            )
        else:
            plain.append(path)
    if plain:
        state.scan_blobs(files.iter_blobs(plain, state.warnings.append, stdin=stdin))
    return _finish(state, started)


def scan_repo(
    repo: git.Repo,
    rules: Sequence[Rule],
    options: ScanOptions,
    progress: ProgressCallback | None = None,
    skip: Callable[[list[bytes]], set[bytes]] | None = None,
) -> ScanResult:
    """Scan one repository the caller has opened (a hook's: git names it, not a path).

    `skip` makes the scan incremental: given the listed objects, it names those known clean
    (not read again); the result lists the objects read and found clean.
    """
    from keyscan.history import scan_repository

    started = time.perf_counter()
    state = _state(rules, options, progress)
    state.skip = skip
    scan_repository(state, repo, repo.work_tree or repo.git_dir)
    result = _finish(state, started)
    result.clean_objects = state.clean
    return result


def _state(
    rules: Sequence[Rule], options: ScanOptions, progress: ProgressCallback | None
) -> ScanState:
    decoder, matcher = matcher_for(rules, options)
    return ScanState(rules, options, progress, matcher, decoder)


def matcher_for(rules: Sequence[Rule], options: ScanOptions) -> tuple[Decoder | None, Matcher]:
    """The decoder the options ask for, and a matcher that scans its triggers in its own
    pass (one hyperscan pass per blob, not two)."""
    decoder = Decoder(options.engine) if options.decode else None
    return decoder, Matcher(rules, options.engine, decoder.extra if decoder else ())


def _finish(state: ScanState, started: float) -> ScanResult:
    findings, suppressed = apply(group_sightings(state.sightings), state.options.suppression)
    if state.options.max_locations is not None:
        cap_locations(findings, state.options.max_locations)
        cap_locations(suppressed, state.options.max_locations)
    state.stats.seconds = time.perf_counter() - started
    return ScanResult(findings, state.stats, state.warnings, suppressed)


def cap_locations(findings: list[Finding], cap: int) -> None:
    for finding in findings:
        if len(finding.locations) > cap:
            finding.omitted_locations = len(finding.locations) - cap
            del finding.locations[cap:]
