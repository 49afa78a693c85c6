"""Scan many repositories in parallel, recording each in the datastore as it finishes.

The default is embedded: a local process pool, one repository per worker at a time. With a
Dask scheduler address, the same per-repository function runs on the cluster's workers and
the results come back here, to the one process that writes the datastore.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from keyscan import __version__
from keyscan.errors import KeyscanError
from keyscan.model import Finding
from keyscan.org.sources import RepoSource, mirror, public_url
from keyscan.org.store import RepoRecord, Store
from keyscan.rules import Rule
from keyscan.scan import ScanOptions, scan_repo
from keyscan.sources import git


@dataclass(slots=True)
class RepoOutcome:
    """What scanning one repository gave: sent back from a worker to the datastore writer."""

    source: RepoSource
    record: RepoRecord
    findings: list[Finding] | None  # None: the scan failed
    warnings: list[str] = field(default_factory=list)
    clean: list[bytes] = field(default_factory=list)  # objects read and found clean


@dataclass(slots=True)
class OrgProgress:
    total: int = 0
    done: int = 0
    objects_skipped: int = 0
    failed: int = 0
    bytes: int = 0
    findings: int = 0
    slowest: str | None = None  # the repository that has been running longest
    slowest_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True, slots=True)
class OrgSummary:
    run_id: int
    scanned: int
    failed: int
    skipped: int  # already done in the resumed run
    bytes: int
    objects_skipped: int = 0  # known clean from earlier scans: not read again


def rules_version(rules: Sequence[Rule], options: ScanOptions) -> str:
    """What a scanned blob's result depends on: keyscan, the rules, the finding options."""
    h = hashlib.sha256(__version__.encode())
    for rule in rules:
        fields = (rule.id, rule.kind.value, rule.prefilter, rule.pattern, rule.window_before,
                  rule.window_after, rule.entropy, rule.identifier)  # fmt: skip
        h.update(repr(fields).encode())
    h.update(repr((options.findings, options.decode)).encode())
    return h.hexdigest()[:16]


def scan_one(
    source: RepoSource, rules: Sequence[Rule], options: ScanOptions, clone_dir: str,
    db: str | None = None, version: str = "",
) -> RepoOutcome:  # fmt: skip
    """One repository, start to end; never raises: a broken repository is an outcome.

    With the datastore's path `db` (readable here: a local worker), objects it records as
    scanned clean under this rules `version` are not read again.
    """
    started = time.perf_counter()
    path = source.path
    try:
        if path is None:
            assert source.url is not None
            path = mirror(source.url, clone_dir)
        repo = git.open_repo(path)
        if repo is None:
            raise KeyscanError(f"{path} is not a git repository (or not its top folder)")
        skip = known_clean(db, version) if db else None
        result = scan_repo(repo, rules, options, skip=skip)
    except (KeyscanError, OSError) as exc:
        record = RepoRecord(source.name, "failed", str(exc), 0, 0, 0, time.perf_counter() - started)
        return RepoOutcome(replace(source, path=path), record, None)
    except Exception as exc:  # a bug must not stop the other repositories: report it
        error = f"internal error: {type(exc).__name__}: {exc}"
        record = RepoRecord(source.name, "failed", error, 0, 0, 0, time.perf_counter() - started)
        return RepoOutcome(replace(source, path=path), record, None)
    stats = result.stats
    record = RepoRecord(
        source.name, "done", None, stats.blobs, stats.bytes, stats.skipped, stats.seconds
    )
    return RepoOutcome(
        replace(source, path=path), record, result.findings, result.warnings,
        result.clean_objects,
    )  # fmt: skip


def known_clean(db: str, version: str) -> Callable[[list[bytes]], set[bytes]]:
    """Which of a repository's objects the datastore records as scanned clean: read-only,
    beside the process that writes it (WAL mode lets both proceed)."""

    def lookup(oids: list[bytes]) -> set[bytes]:
        known: set[bytes] = set()
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)) as c:
            for start in range(0, len(oids), 500):
                chunk = oids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = c.execute(
                    f"SELECT oid FROM scanned_blobs WHERE rules_version=? AND oid IN ({marks})",
                    (version, *chunk),
                )
                known.update(bytes(oid) for (oid,) in rows)
        return known

    return lookup


class _LocalPool:
    def __init__(self, jobs: int) -> None:
        self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs)

    def submit(self, *args: Any) -> Any:
        return self._pool.submit(scan_one, *args)

    def wait(self, futures: list[Any]) -> set[Any]:
        done, _ = concurrent.futures.wait(
            futures, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
        )
        return done

    def close(self, cancel: bool) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class _DaskPool:
    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise KeyscanError("--dask-scheduler needs Dask: pip install 'keyscan[dask]'") from None
        try:
            self._client = Client(address, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise KeyscanError(
                f"cannot reach the Dask scheduler at {address} ({exc}); check the address, or "
                "drop --dask-scheduler to scan on this machine"
            ) from None

    def submit(self, *args: Any) -> Any:
        # pure=False: the same repository scanned twice is two scans, not a cached result.
        return self._client.submit(scan_one, *args, pure=False)

    def wait(self, futures: list[Any]) -> set[Any]:
        from distributed import wait

        try:
            return set(wait(futures, timeout=0.2, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return set()

    def close(self, cancel: bool) -> None:
        self._client.close()


def scan_organization(
    sources: Sequence[RepoSource],
    rules: Sequence[Rule],
    options: ScanOptions,
    store: Store,
    *,
    jobs: int = 0,
    clone_dir: str,
    resume: bool = False,
    dask_scheduler: str | None = None,
    progress: Callable[[OrgProgress], None] | None = None,
    warn: Callable[[str], None] = lambda _: None,
) -> OrgSummary:
    version = rules_version(rules, options)
    jobs = jobs or os.cpu_count() or 1
    # Connect first: an unreachable scheduler must not leave an empty run behind.
    pool = _DaskPool(dask_scheduler) if dask_scheduler else _LocalPool(jobs)
    done: set[str] = set()
    try:
        if resume:
            unfinished = store.unfinished_run()
            if unfinished is None:
                raise KeyscanError(f"{store.path} has no interrupted run to resume; drop --resume")
            run_id, old_version = unfinished
            if old_version != version:
                raise KeyscanError(
                    "the interrupted run used other rules or options; run again without --resume"
                )
            done = store.done_in_run(run_id)
        else:
            run_id = store.start_run(version, [s.name for s in sources])
    except BaseException:
        pool.close(cancel=True)
        raise
    todo = [s for s in sources if s.name not in done]
    # One repository per worker: history within a repository is scanned in that worker.
    per_repo = replace(options, jobs=1)
    state = OrgProgress(total=len(todo))
    running: dict[Any, tuple[RepoSource, float]] = {}
    # Local workers read the datastore to skip what earlier runs found clean; Dask workers
    # may be on other machines: they scan everything.
    db = None if dask_scheduler else str(store.path.absolute())
    cancelled = True
    try:
        for source in todo:
            running[pool.submit(source, rules, per_repo, clone_dir, db, version)] = (
                source, time.monotonic()
            )  # fmt: skip
        while running:
            for future in pool.wait(list(running)):
                running.pop(future)
                outcome: RepoOutcome = future.result()
                _record(store, run_id, outcome, version, state, warn)
            if progress is not None:
                _slowest(state, running)
                progress(state)
        store.finish_run(run_id)
        cancelled = False
    finally:
        pool.close(cancel=cancelled)
    return OrgSummary(
        run_id, state.done, state.failed, len(done), state.bytes, state.objects_skipped
    )


def _record(
    store: Store, run_id: int, outcome: RepoOutcome, version: str, state: OrgProgress,
    warn: Callable[[str], None],
) -> None:  # fmt: skip
    source = outcome.source
    url = public_url(source.url) if source.url else None  # never a password in the datastore
    store.record(run_id, outcome.record, source.path, url, outcome.findings, outcome.clean,
                 version)  # fmt: skip
    state.done += 1
    state.bytes += outcome.record.bytes
    state.objects_skipped += outcome.record.skipped_blobs
    if outcome.record.status == "failed":
        state.failed += 1
        warn(f"{source.name}: {outcome.record.error}; skipped, and the run goes on")
    else:
        state.findings += len(outcome.findings or [])
    for warning in outcome.warnings:
        warn(f"{source.name}: {warning}")


def _slowest(state: OrgProgress, running: dict[Any, tuple[RepoSource, float]]) -> None:
    busy = [(started, source) for future, (source, started) in running.items() if future.running()]
    if busy:
        started, source = min(busy, key=lambda item: item[0])
        state.slowest, state.slowest_seconds = source.name, time.monotonic() - started
    else:
        state.slowest, state.slowest_seconds = None, 0.0
