"""Scan many repositories in parallel, recording each in the datastore as it finishes.

The default is embedded: a local process pool, one repository per worker at a time. With a
Dask scheduler address, the same per-repository function runs on the cluster's workers and
the results come back here, to the one process that writes the datastore.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from keyscan import __version__
from keyscan.errors import KeyscanError
from keyscan.model import Finding
from keyscan.org.sources import RepoSource, mirror
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


@dataclass(slots=True)
class OrgProgress:
    total: int = 0
    done: int = 0
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
    source: RepoSource, rules: Sequence[Rule], options: ScanOptions, clone_dir: str
) -> RepoOutcome:
    """One repository, start to end; never raises: a broken repository is an outcome."""
    started = time.perf_counter()
    path = source.path
    try:
        if path is None:
            assert source.url is not None
            path = mirror(source.url, clone_dir)
        repo = git.open_repo(path)
        if repo is None:
            raise KeyscanError(f"{path} is not a git repository (or not its top folder)")
        result = scan_repo(repo, rules, options)
    except (KeyscanError, OSError) as exc:
        record = RepoRecord(source.name, "failed", str(exc), 0, 0, 0, time.perf_counter() - started)
        return RepoOutcome(replace(source, path=path), record, None)
    except Exception as exc:  # a bug must not stop the other repositories: report it
        error = f"internal error: {type(exc).__name__}: {exc}"
        record = RepoRecord(source.name, "failed", error, 0, 0, 0, time.perf_counter() - started)
        return RepoOutcome(replace(source, path=path), record, None)
    stats = result.stats
    record = RepoRecord(source.name, "done", None, stats.blobs, stats.bytes, 0, stats.seconds)
    return RepoOutcome(replace(source, path=path), record, result.findings, result.warnings)


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
    done: set[str] = set()
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
    todo = [s for s in sources if s.name not in done]
    # One repository per worker: history within a repository is scanned in that worker.
    per_repo = replace(options, jobs=1)
    jobs = jobs or os.cpu_count() or 1
    pool = _DaskPool(dask_scheduler) if dask_scheduler else _LocalPool(jobs)
    state = OrgProgress(total=len(todo))
    running: dict[Any, tuple[RepoSource, float]] = {}
    cancelled = True
    try:
        for source in todo:
            running[pool.submit(source, rules, per_repo, clone_dir)] = (source, time.monotonic())
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
    return OrgSummary(run_id, state.done, state.failed, len(done), state.bytes)


def _record(
    store: Store, run_id: int, outcome: RepoOutcome, version: str, state: OrgProgress,
    warn: Callable[[str], None],
) -> None:  # fmt: skip
    source = outcome.source
    store.record(run_id, outcome.record, source.path, source.url, outcome.findings,
                 rules_version=version)  # fmt: skip
    state.done += 1
    state.bytes += outcome.record.bytes
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
