"""Scanning a git repository: every object once, in worker processes, then provenance.

The concurrency of the whole pipeline lives here. Objects are dispatched in batches of pack
order while git is still listing them; each worker process keeps one `git cat-file --batch`
and one matcher for its life. Workers send back detections for the few objects that matched,
and provenance (paths, commits, authors) is worked out for those objects alone, from a
history log that starts in the background at the first detection.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from keyscan.decode import Decoder
from keyscan.errors import SourceError
from keyscan.findings import Detection, Sighting, detect
from keyscan.matcher import Matcher
from keyscan.model import Blob, Provenance
from keyscan.rules import Rule
from keyscan.scan import Progress, ScanOptions, ScanState, detect_blob, matcher_for
from keyscan.sources import files, git, pack

# Below this much content, forking workers costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Hit:
    """An object that matched, as a worker reports it."""

    oid: bytes
    kind: bytes
    detections: list[Detection]
    header: bytes | None  # commit/tag objects: the raw object, for author and date


_worker_counters: Any = None
# One of each per worker process, reused across its batches (a pool serves one repository).
_worker_cat_file: git.CatFile | None = None
_worker_matcher: Matcher | None = None
_worker_decoder: Decoder | None = None
_worker_packs: pack.PackReader | None = None
# The driver's pack indexes, which forked workers share instead of reading their own copies
# (tens of MB on a large repository).
_inherited_packs: list[pack.PackIndex] | None = None


def _init_worker(counters: Any) -> None:
    global _worker_counters, _worker_cat_file, _worker_matcher, _worker_decoder, _worker_packs
    _worker_counters = counters
    _worker_cat_file = _worker_matcher = _worker_decoder = _worker_packs = None  # not a parent's


def _cat_file(repo: git.Repo) -> git.CatFile:
    global _worker_cat_file
    if _worker_cat_file is None or _worker_cat_file.repo != repo:
        if _worker_cat_file is not None:
            _worker_cat_file.close()
        _worker_cat_file = git.CatFile(repo)
    return _worker_cat_file


def _matcher(rules: Sequence[Rule], options: ScanOptions) -> tuple[Matcher, Decoder | None]:
    global _worker_matcher, _worker_decoder
    if _worker_matcher is None:
        _worker_decoder, _worker_matcher = matcher_for(rules, options)
    return _worker_matcher, _worker_decoder


def _scan_objects(
    repo: git.Repo,
    batch: bytes,
    rules: Sequence[Rule],
    options: ScanOptions,
    matcher: Matcher | None = None,
    decoder: Decoder | None = None,
) -> tuple[list[_Hit], list[str], list[bytes]]:
    """Read a batch of objects (`oid\\n` lines) through cat-file and match them: a worker's
    task, or (given the driver's `matcher` and `decoder`) part of the scan of a small
    repository in this process. Returns hits, warnings and objects that were unread."""
    in_worker = _worker_counters is not None
    warnings: list[str] = []
    failed: list[bytes] = []
    cat_file = _cat_file(repo) if in_worker else git.CatFile(repo)
    try:
        objects = cat_file.read(batch.split(), warnings.append, failed, whole=files.CHUNK)
        hits = _match_objects(objects, rules, options, warnings, matcher, decoder)
    finally:
        if not in_worker:
            cat_file.close()
    return hits, warnings, failed


def _scan_share(
    repo: git.Repo,
    share: pack.Share,
    hash_size: int,
    rules: Sequence[Rule],
    options: ScanOptions,
    matcher: Matcher | None = None,
    decoder: Decoder | None = None,
    reader: pack.PackReader | None = None,
) -> tuple[list[_Hit], list[str], list[bytes]]:
    """Rebuild one share of a pack in this process and match its objects; what the pack
    reader leaves (see keyscan/sources/pack.py) goes through cat-file."""
    global _worker_packs
    if reader is None:
        if _worker_packs is None:
            packs = _inherited_packs or pack.open_packs(repo.git_dir, hash_size) or []
            _worker_packs = pack.PackReader(packs)
        reader = _worker_packs
    warnings: list[str] = []
    left: list[bytes] = []
    try:
        rebuilt = reader.read(share, files.CHUNK, left)
        objects = (git.RawObject(oid, kind, len(data), data, None) for oid, kind, data in rebuilt)
        hits = _match_objects(objects, rules, options, warnings, matcher, decoder)
    except pack.PackError as exc:  # the pack went away (e.g. a gc while we scan)
        return [], [f"{exc}: some of its objects were not scanned; scan again once nothing "
                    "else is repacking the repository"], []  # fmt: skip
    failed: list[bytes] = []
    if left:
        more, more_warnings, failed = _scan_objects(
            repo, b"".join(oid + b"\n" for oid in left), rules, options, matcher, decoder
        )
        hits += more
        warnings += more_warnings
    return hits, warnings, failed


def _match_objects(
    objects: Iterable[git.RawObject],
    rules: Sequence[Rule],
    options: ScanOptions,
    warnings: list[str],
    matcher: Matcher | None = None,
    decoder: Decoder | None = None,
) -> list[_Hit]:
    """The objects that match, with their detections; counts progress in a worker."""
    counters = _worker_counters  # set only in worker processes
    in_worker = counters is not None
    if matcher is None:
        matcher, decoder = _matcher(rules, options)
    by_id = {rule.id: rule for rule in matcher.rules}
    hits: list[_Hit] = []
    done = done_bytes = found = 0
    placeholder = Provenance("git")
    scan = matcher.scan
    prepare = files.prepare
    for obj in objects:
        detections: list[Detection] = []
        if obj.data is not None:  # the common case: one chunk, and most have no hit
            data = prepare(obj.data)
            if data is None:
                pass
            elif decoder is not None:
                name = obj.oid.decode()
                detections = detect_blob(Blob(data, placeholder), matcher, by_id, options,
                                         decoder, warnings.append, name)  # fmt: skip
            else:
                matches = scan(data)
                if matches:
                    detections = detect(Blob(data, placeholder), matches, by_id, options.findings)
        else:
            assert obj.stream is not None
            for blob in files.read_chunks(obj.stream, placeholder):
                detections += detect_blob(blob, matcher, by_id, options, decoder,
                                          warnings.append, obj.oid.decode())  # fmt: skip
        if detections:
            found += len(detections)
            header = obj.data if obj.kind != b"blob" else None
            hits.append(_Hit(obj.oid, obj.kind, detections, header))
        done += 1
        done_bytes += obj.size
        if in_worker and (done & 255 == 0 or detections):
            _count(counters, done, done_bytes, found)
            done = done_bytes = found = 0
    if in_worker:
        _count(counters, done, done_bytes, found)
    return hits


def _count(counters: Any, objects: int, size: int, detections: int) -> None:
    """Add a worker's progress to the counters the driver shows."""
    with counters.get_lock():
        counters[0] += objects
        counters[1] += size
        counters[2] += detections


# A worker's task: big enough that dispatching costs little, small enough that the workers
# finish together.
BATCH_BYTES = 96 * 1024 * 1024
BATCH_OBJECTS = 50_000


def _batches(objects: git.ObjectList, listing: Iterable[int]) -> Iterator[bytes]:
    """Runs of consecutive (pack order) objects, as `oid\\n` lines, cut from the listing as it
    grows."""
    start = counted = batch_bytes = 0
    sizes = objects.sizes
    for listed in itertools.chain(listing, [len(objects)]):
        for end in range(counted, listed):
            batch_bytes += sizes[end]
            if batch_bytes >= BATCH_BYTES or end + 1 - start >= BATCH_OBJECTS:
                yield objects.chunk(start, end + 1)
                start, batch_bytes = end + 1, 0
        counted = max(counted, listed)
    if start < len(objects):
        yield objects.chunk(start, len(objects))


@dataclass(slots=True)
class _History:
    """A repository being scanned: its listing, and the log that provenance will need."""

    repo: git.Repo
    revs: tuple[str, ...]
    objects: git.ObjectList = field(default_factory=git.ObjectList)
    log: git.HistoryLog | None = None

    def start_log(self) -> None:
        """Walk history in the background once something matched (not before: most objects
        never match, and a walk of a large history costs as much as reading its blobs)."""
        if self.log is None:
            self.log = git.HistoryLog(self.repo, self.revs or ("--all", "--reflog"))


def _run_workers(
    state: ScanState, history: _History, listing: Iterator[int]
) -> tuple[list[_Hit], list[bytes]]:
    """Scan objects as they are listed, in worker processes when there is enough to share.

    Returns the objects that matched and those that could not be read.
    """
    objects = history.objects
    jobs = state.options.jobs or os.cpu_count() or 1
    # Small repositories are scanned here: forking workers would cost more than it saves.
    # Incremental scans (state.skip) run here too: they know which objects to leave out only
    # once the listing is complete.
    for _ in listing:
        if objects.total_bytes >= PARALLEL_MIN_BYTES and jobs > 1 and state.skip is None:
            break
    else:
        packs = _open_packs(state, history)
        if packs is not None:
            return _scan_here(state, history, packs)
        batch = bytes(objects.lines)
        if state.skip is not None:
            oids = objects.oids()
            known = state.skip(oids)
            if known:
                batch = b"".join(oid + b"\n" for oid in oids if oid not in known)
                state.stats.skipped += len(known)
        found, warnings, unread = _scan_objects(
            history.repo, batch, state.rules, state.options, state.matcher, state.decoder
        )
        state.warnings.extend(warnings)
        if state.skip is not None:
            left_out = known | {hit.oid for hit in found} | set(unread) | set(objects.unreadable)
            state.clean.extend(oid for oid in oids if oid not in left_out)
        return found, unread

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    counters = context.Array("q", 3)
    progress = Progress()
    futures = []

    def poll() -> None:
        progress.objects, progress.bytes, progress.detections = counters[:]
        progress.total_objects, progress.total_bytes = len(objects), objects.total_bytes
        if progress.detections:
            history.start_log()
        if state.progress is not None:
            state.progress(progress)

    repo, rules, options = history.repo, state.rules, state.options
    global _inherited_packs
    packs = _inherited_packs = _open_packs(state, history)
    try:
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(counters,)
        ) as pool:
            if packs is not None:  # workers rebuild packed objects while git lists the rest
                size = _hash_size(objects)
                for share in pack.shares(packs, SHARE_BYTES):
                    futures.append(pool.submit(_scan_share, repo, share, size, rules, options))
                for _ in listing:
                    poll()
                loose = git.loose_objects(repo)
                if loose:
                    futures.append(pool.submit(_scan_objects, repo, loose, rules, options))
            else:
                for batch in _batches(objects, listing):
                    futures.append(pool.submit(_scan_objects, repo, batch, rules, options))
                    poll()
            pending = set(futures)
            while pending:
                _, pending = concurrent.futures.wait(pending, timeout=0.1)
                poll()
    finally:
        _inherited_packs = None
    return _gather(state, [future.result() for future in futures])


# Pack data per worker task: enough that a delta's base is usually in the same task (and in
# the worker's cache), small enough that the workers finish together.
SHARE_BYTES = 8 * 1024 * 1024


def _hash_size(objects: git.ObjectList) -> int:
    return (objects.width - 1) // 2  # hex digits and a newline per listed object


def _open_packs(state: ScanState, history: _History) -> list[pack.PackIndex] | None:
    """The packs to rebuild objects from in this process: for a scan of the whole object
    database only (a range lists its own objects, an incremental scan skips known ones)."""
    if history.revs or state.skip is not None or not history.objects.width:
        return None
    return pack.open_packs(history.repo.git_dir, _hash_size(history.objects))


def _scan_here(
    state: ScanState, history: _History, packs: list[pack.PackIndex]
) -> tuple[list[_Hit], list[bytes]]:
    """A small repository's packs and loose objects, scanned in this process."""
    repo, size = history.repo, _hash_size(history.objects)
    reader = pack.PackReader(packs)
    tasks: list[tuple[list[_Hit], list[str], list[bytes]]] = []
    try:
        for share in pack.shares(packs, SHARE_BYTES):
            tasks.append(_scan_share(repo, share, size, state.rules, state.options,
                                     state.matcher, state.decoder, reader))  # fmt: skip
    finally:
        reader.close()
    loose = git.loose_objects(repo)
    if loose:
        tasks.append(
            _scan_objects(repo, loose, state.rules, state.options, state.matcher, state.decoder)
        )
    return _gather(state, tasks)


def _gather(
    state: ScanState, tasks: list[tuple[list[_Hit], list[str], list[bytes]]]
) -> tuple[list[_Hit], list[bytes]]:
    """The tasks' hits, one per object (an object can be in two packs, or packed and loose),
    and the objects they could not read; their warnings go to `state`."""
    unique: dict[bytes, _Hit] = {}
    failed: list[bytes] = []
    for hits, warnings, task_failed in tasks:
        for hit in hits:
            unique.setdefault(hit.oid, hit)
        failed += task_failed
        state.warnings.extend(warnings)
    return list(unique.values()), failed


def scan_repository(state: ScanState, repo: git.Repo, path: str, prefix: str = "") -> None:
    """Scan one repository: its objects, then its work tree, then (if asked) submodules.

    `prefix` is the submodule's path inside its superproject, prepended to history paths.
    """
    options = state.options
    history = _History(repo, options.revs)
    listing: Iterator[int]
    if options.revs:
        git.verify_revs(repo, options.revs)
        history.objects = git.list_range_objects(repo, options.revs)
        listing = iter([len(history.objects)])
    else:
        listing = git.stream_all_objects(repo, history.objects)
        state.warnings.extend(git.incompleteness(repo))
    try:
        hits, failed = _run_workers(state, history, listing)
        objects = history.objects
        if not len(objects) and not options.revs:
            _check_readable(repo, path, objects)
        for oid in objects.unreadable:
            state.warnings.append(f"git cannot read object {oid.decode('ascii', 'replace')} in "
                                  f"{path}; skipped, and the scan goes on")  # fmt: skip
        state.stats.blobs += len(objects)
        state.stats.bytes += objects.total_bytes

        blob_hits = {hit.oid for hit in hits if hit.kind == b"blob"}
        if blob_hits:
            history.start_log()
            where = git.locate_blobs(repo, blob_hits, objects, options.revs, history.log)
        else:
            where = {}
    finally:
        if history.log is not None:
            history.log.close()
    reachable = git.Reachability(repo)
    for hit in hits:
        detections = hit.detections
        if hit.kind == b"blob":
            provenances = where.get(hit.oid) or [Provenance("git", kind="blob")]
        else:
            raw = hit.header or b""
            provenances = [git.message_provenance(repo, hit.kind, hit.oid, raw, reachable)]
            # Count lines from the message, not from the object's headers above it.
            above = raw.split(b"\n\n", 1)[0].count(b"\n") + 2 if b"\n\n" in raw else 0
            detections = [
                replace(d, line=d.line - above) if d.line > above else d for d in detections
            ]
        if prefix:
            provenances = [
                replace(p, path=f"{prefix}/{p.path}" if p.path else prefix) for p in provenances
            ]
        for detection in detections:
            state.sightings.extend(Sighting.at(detection, p) for p in provenances)

    if options.worktree and not options.revs and repo.work_tree is not None:
        _scan_worktree(state, repo, path, set(objects.oids()) - set(failed))
    if options.recurse_submodules and repo.work_tree is not None:
        for sub in git.submodule_paths(repo):
            sub_repo = git.open_repo(os.path.join(repo.work_tree, sub))
            if sub_repo is None:
                state.warnings.append(f"submodule {sub} in {path} is not checked out; skipped")
                continue
            sub_prefix = f"{prefix}/{sub}".lstrip("/")
            scan_repository(state, sub_repo, os.path.join(path, sub), sub_prefix)


def _check_readable(repo: git.Repo, path: str, objects: git.ObjectList) -> None:
    """An object database git lists nothing readable from, while refs point into it, is
    missing or corrupt: an error, not a clean repository."""
    if objects.unreadable or _has_refs(repo.git_dir):
        raise SourceError(
            f"git can read none of the objects of {path} ({len(objects.unreadable)} listed as "
            "unreadable), yet refs point into it: its object database is missing or corrupt; "
            "check it with `git fsck`"
        )


def _has_refs(git_dir: str) -> bool:
    """Whether any branch or tag is recorded, read from the files (git's own commands leave
    out refs whose objects are missing)."""
    try:
        with open(os.path.join(git_dir, "packed-refs"), "rb") as handle:
            if any(line[:1] not in (b"#", b"^", b"") for line in handle):
                return True
    except OSError:
        pass
    return any(names for _, _, names in os.walk(os.path.join(git_dir, "refs")))


def _scan_worktree(state: ScanState, repo: git.Repo, path: str, known: set[bytes]) -> None:
    """Uncommitted and untracked files whose content is not already in the object database."""
    assert repo.work_tree is not None
    changed: list[str] = []
    for full in git.worktree_candidates(repo):
        try:
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            if os.path.getsize(full) <= files.CHUNK:
                with open(full, "rb") as handle:
                    if git.blob_id(handle.read()) in known:
                        continue
        except OSError:
            continue  # vanished or unreadable: iter_blobs below warns about what it cannot read
        changed.append(os.path.normpath(os.path.join(path, os.path.relpath(full, repo.work_tree))))
    if changed:
        state.scan_blobs(files.iter_blobs(changed, state.warnings.append))
