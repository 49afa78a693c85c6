"""Git repositories: list and read every object, and say where a blob lives in history.

This is the only module that runs git. Every call is made safe for repositories we do not
trust: no hooks, filters, fsmonitor or pager run, nothing is written (no locks, no index
refresh), no object is fetched over the network, and ownership checks are waived on the
command line only (never in the user's config).
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import hashlib
import io
import mmap
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from keyscan.errors import SourceError
from keyscan.model import Provenance

Warn = Callable[[str], None]

# Variables a parent git (e.g. one running a hook) sets to point at *its* repository.
# GIT_CONFIG_GLOBAL/SYSTEM/NOSYSTEM are kept: they name the user's own, trusted config.
_KEEP_GIT_VARS = {"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"}
_SAFE_CONFIG = (
    "-c", "core.fsmonitor=false",
    "-c", "log.showSignature=false",  # verifying a signature runs gpg.program
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.untrackedCache=false",
    "-c", "safe.directory=*",
    "-c", "core.quotePath=false",
    # Map packs in 8 MiB windows, at most 64 MiB at once: memory stays bounded on large
    # repositories (by default a whole pack is mapped, up to 8 GiB). What costs speed is
    # having few windows, not small ones: with 2-3 windows git remaps all the time (listing
    # git/git alone: 7.3 s at 64m/128m, 2.9 s at 64m/192m, 2.7 s at 8m/64m).
    "-c", "core.packedGitWindowSize=8m",
    "-c", "core.packedGitLimit=64m",
)  # fmt: skip
_PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def safe_env(git_dir: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP_GIT_VARS}
    env.update(
        GIT_OPTIONAL_LOCKS="0",  # no index refresh, no lock files
        GIT_TERMINAL_PROMPT="0",
        GIT_NO_REPLACE_OBJECTS="1",  # read the objects as stored, not refs/replace stand-ins
        GIT_NO_LAZY_FETCH="1",  # partial clones: never fetch missing objects...
        GIT_ALLOW_PROTOCOL="keyscan-offline",  # ...and no transport is allowed anyway
        GIT_PAGER="cat",
        LC_ALL="C",
    )
    if git_dir is not None:
        env["GIT_DIR"] = git_dir
    return env


@dataclass(frozen=True, slots=True)
class Repo:
    git_dir: str
    work_tree: str | None  # None for bare and mirror repositories

    @property
    def env(self) -> dict[str, str]:
        return safe_env(self.git_dir)

    def command(self, *args: str) -> list[str]:
        return ["git", *_SAFE_CONFIG, *args]

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        proc = subprocess.run(
            self.command(*args),
            input=input,
            capture_output=True,
            env=self.env,
            cwd=self.work_tree or self.git_dir,
            check=False,
        )
        if check and proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip()
            raise SourceError(f"git {args[0]} failed in {self.git_dir}: {message}")
        return proc.stdout

    def popen(self, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(*args),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
            cwd=self.work_tree or self.git_dir,
        )


def open_repo(path: str) -> Repo | None:
    """The repository whose work tree or git directory is exactly `path`, else None.

    Discovery never climbs above `path`: a folder inside someone's repository is scanned as
    plain files, as the user named it.
    """
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        return None
    env = safe_env()
    env["GIT_CEILING_DIRECTORIES"] = os.path.dirname(path)
    try:
        proc = subprocess.run(
            ["git", *_SAFE_CONFIG, "rev-parse", "--absolute-git-dir", "--is-bare-repository"],
            cwd=path,
            env=env,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise SourceError(
            "git is not installed or not on PATH; install git, or scan with --no-history"
        ) from None
    if proc.returncode != 0:
        return None
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    git_dir, bare = lines[0], lines[1] == "true"
    if bare or os.path.samefile(git_dir, path):
        return Repo(git_dir, None)
    top = subprocess.run(
        ["git", *_SAFE_CONFIG, "rev-parse", "--show-toplevel"],
        cwd=path, env=env, capture_output=True, check=False,
    ).stdout.decode("utf-8", "surrogateescape").strip()  # fmt: skip
    # A work tree: only if `path` is its top, not a subfolder.
    if top and os.path.samefile(top, path):
        return Repo(git_dir, path)
    return None


def submodule_paths(repo: Repo) -> list[str]:
    """Paths of the submodules recorded in the index (gitlinks), relative to the work tree."""
    out = repo.run("ls-files", "--stage", "-z", check=False)
    paths = []
    for record in out.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        if meta.startswith(b"160000 "):
            paths.append(os.fsdecode(path))
    return paths


class ObjectList:
    """Object IDs to scan, in pack order (so reading them streams through the packs).

    Kept compact, as one byte string of `oid\\n` lines (what cat-file reads), an array of sizes
    and one byte of type per object: a large repository lists millions of objects.
    """

    def __init__(self) -> None:
        self.lines = bytearray()
        self.width = 0  # bytes per line: 41 for SHA-1, 65 for SHA-256
        self.sizes = array.array("q")
        self.kinds = bytearray()  # the first letter of each object's type: b, c or t
        self.total_bytes = 0
        self.unreadable: list[bytes] = []  # listed by git but not readable

    def __len__(self) -> int:
        return len(self.sizes)

    def add(self, kind: bytes, oid: bytes, size: int) -> None:
        self.width = self.width or len(oid) + 1
        self.lines += oid
        self.lines += b"\n"
        self.sizes.append(size)
        self.kinds += kind[:1]
        self.total_bytes += size

    def add_listing(self, text: bytes) -> None:
        """Add whole lines of `cat-file --batch-check` output (`type oid size`), skipping
        trees. Parsed with one regular expression per call: a large repository lists
        millions of objects, and this runs beside the workers."""
        if b" missing" in text:  # "<oid> missing": a corrupt loose object
            self.unreadable.extend(_MISSING_ROW.findall(text))
        rows = [row for row in _LISTING_ROW.findall(text) if row[0] != b"tree"]
        if not rows:
            return
        kinds, oids, sizes = zip(*rows, strict=True)
        self.width = self.width or len(oids[0]) + 1
        self.lines += b"\n".join(oids) + b"\n"
        numbers = [int(size) for size in sizes]
        self.sizes.extend(numbers)
        self.kinds += bytes(kind[0] for kind in kinds)
        self.total_bytes += sum(numbers)

    def of_kind(self, kind: bytes) -> set[bytes]:
        """The objects of one type (b"commit", b"tag", b"blob")."""
        code, width, found = kind[:1], self.width, set()
        at = self.kinds.find(code)
        while at >= 0:
            found.add(bytes(self.lines[at * width : (at + 1) * width - 1]))
            at = self.kinds.find(code, at + 1)
        return found

    @property
    def commits(self) -> set[bytes]:
        """Every commit listed (for reachability)."""
        return self.of_kind(b"commit")

    @property
    def tags(self) -> set[bytes]:
        return self.of_kind(b"tag")

    def chunk(self, start: int, stop: int) -> bytes:
        """Objects [start, stop) as `oid\\n` lines."""
        return bytes(self.lines[start * self.width : stop * self.width])

    def oids(self) -> list[bytes]:
        return bytes(self.lines).split()


_LISTING = "--batch-check=%(objecttype) %(objectname) %(objectsize)"
_LISTING_ROW = re.compile(rb"^(blob|tree|commit|tag) ([0-9a-f]+) ([0-9]+)$", re.MULTILINE)
_MISSING_ROW = re.compile(rb"^([0-9a-f]+) missing$", re.MULTILINE)


def stream_all_objects(repo: Repo, objects: ObjectList) -> Iterator[int]:
    """List every blob, commit and tag in the object database into `objects`, as git prints
    them (pack order; reachable or not, loose or packed). Yields how many are listed so far,
    every few thousand, so the caller can start scanning before the listing ends."""
    proc = repo.popen("cat-file", "--batch-all-objects", _LISTING, "--unordered")
    assert proc.stdout is not None
    try:
        rest = b""
        while True:
            block = proc.stdout.read1(1 << 20)  # type: ignore[attr-defined]
            if not block:
                break
            text = rest + block
            cut = text.rfind(b"\n") + 1
            objects.add_listing(text[:cut])
            rest = text[cut:]
            yield len(objects)
        objects.add_listing(rest + b"\n")
    finally:
        proc.kill()
        proc.wait()


def loose_objects(repo: Repo) -> bytes:
    """The loose blobs, commits and tags, as `oid\\n` lines (from the object folders: packs
    hold the rest). Their types come from one `cat-file --batch-check`."""
    root = os.path.join(repo.git_dir, "objects")
    names = []
    for folder in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if len(folder) == 2 and all(c in "0123456789abcdef" for c in folder):
            with contextlib.suppress(OSError):
                names += [folder + rest for rest in os.listdir(os.path.join(root, folder))
                          if all(c in "0123456789abcdef" for c in rest)]  # fmt: skip
    if not names:
        return b""
    listed = repo.run("cat-file", _LISTING, input="\n".join(names).encode() + b"\n", check=False)
    return b"".join(kind_oid[1] + b"\n" for kind_oid in _LISTING_ROW.findall(listed)
                    if kind_oid[0] != b"tree")  # fmt: skip


def list_range_objects(repo: Repo, revs: Sequence[str]) -> ObjectList:
    """Blobs, commits and tags introduced by the commits `revs` select (e.g. A..B)."""
    listed = repo.run("rev-list", "--objects", "--missing=allow-any", *revs, "--")
    oids = b"\n".join(line.split(b" ", 1)[0] for line in listed.splitlines())
    if not oids:
        return ObjectList()
    objects = ObjectList()
    objects.add_listing(repo.run("cat-file", _LISTING, input=oids + b"\n"))
    return objects


def incompleteness(repo: Repo) -> list[str]:
    """Why this repository may not hold all of its history (partial or shallow clone)."""
    reasons = []
    promisor = repo.run("config", "--get", "extensions.partialClone", check=False).strip()
    packs = os.path.join(repo.git_dir, "objects", "pack")
    if promisor or (
        os.path.isdir(packs) and any(n.endswith(".promisor") for n in os.listdir(packs))
    ):
        reasons.append(
            f"{repo.work_tree or repo.git_dir} is a partial clone: objects that were never "
            "downloaded are not scanned (keyscan never fetches); scan a full clone to cover them"
        )
    if os.path.exists(os.path.join(repo.git_dir, "shallow")):
        reasons.append(
            f"{repo.work_tree or repo.git_dir} is a shallow clone: history before its shallow "
            "boundary is not in it and is not scanned; `git fetch --unshallow` to cover it"
        )
    return reasons


def verify_revs(repo: Repo, revs: Sequence[str]) -> None:
    for rev in revs:
        for part in rev.replace("...", "..").split(".."):
            if part and not repo.run("rev-parse", "--verify", "--quiet", part + "^{commit}",
                                     check=False):  # fmt: skip
                raise SourceError(
                    f"{part!r} is not a commit in {repo.work_tree or repo.git_dir}; "
                    "check the name with `git log --oneline -1 REV`"
                )


def _grow_pipe(fd: int) -> None:
    # A 1 MiB pipe lets git write whole blobs while we scan the previous one.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, _PIPE_SIZE)


class _Limited(io.RawIOBase):
    """A read-only view of the next `left` bytes of a stream."""

    def __init__(self, stream: IO[bytes], left: int) -> None:
        self._stream, self.left = stream, left

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self._stream.read(size) if size else b""
        self.left -= len(data)
        return data

    def drain(self) -> None:
        while self.left and self.read(1 << 20):
            pass


@dataclass(frozen=True, slots=True)
class RawObject:
    oid: bytes
    kind: bytes  # b"blob" | b"commit" | b"tag"
    size: int
    # Objects up to `CatFile.read`'s `whole` bytes come as `data`; larger ones as a stream of
    # exactly `size` bytes, to be read before the next object.
    data: bytes | None
    stream: _Limited | None


class CatFile:
    """One long-lived `git cat-file --batch`, fed batch after batch.

    Keeping it alive keeps git's delta-base cache and pack mappings warm from one batch to
    the next. A corrupt object that makes git die costs a restart after that object.
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.wait()
            self._proc = self._out = None

    def _feed(self, oids: Sequence[bytes]) -> threading.Thread:
        if self._proc is None:
            self._proc = self.repo.popen("cat-file", "--batch", stdin=subprocess.PIPE)
            assert self._proc.stdout is not None
            _grow_pipe(self._proc.stdout.fileno())
            # Buffer over the raw pipe: a buffered reader would wait to fill its buffer, and
            # git, which waits for the next request, would never fill it.
            raw = io.FileIO(self._proc.stdout.fileno(), "rb", closefd=False)
            self._out = io.BufferedReader(raw, buffer_size=_PIPE_SIZE)

        def feed(stdin: IO[bytes]) -> None:
            try:
                for start in range(0, len(oids), 4096):
                    stdin.write(b"\n".join(oids[start : start + 4096]) + b"\n")
                stdin.flush()
            except (OSError, ValueError):  # git died, or we killed it: the reader handles it
                pass

        assert self._proc.stdin is not None
        feeder = threading.Thread(target=feed, args=(self._proc.stdin,), daemon=True)
        feeder.start()
        return feeder

    def read(
        self, oids: Sequence[bytes], warn: Warn, failed: list[bytes], whole: int = 1 << 24
    ) -> Iterator[RawObject]:
        """The contents of `oids`, in that order; objects not read whole go to `failed`."""
        position = 0
        while position < len(oids):
            feeder = self._feed(oids[position:])
            out = self._out
            assert out is not None
            bad = None  # the object git died on
            in_step = False  # whether git's output is still aligned with our requests
            try:
                while position < len(oids):
                    header = out.readline()
                    if not header:  # died before this object's header
                        bad = oids[position]
                        position += 1
                        break
                    position += 1
                    parts = header.split()
                    if len(parts) != 3:  # "<oid> missing": a partial clone, a corrupt object
                        warn(f"object {parts[0].decode('ascii', 'replace')} is missing or "
                             "unreadable; skipped")  # fmt: skip
                        failed.append(parts[0])
                        continue
                    size = int(parts[2])
                    if size <= whole:
                        data = out.read(size)
                        if len(data) < size:  # died in the middle of this object
                            bad = parts[0]
                            break
                        yield RawObject(parts[0], parts[1], size, data, None)
                    else:
                        content = _Limited(out, size)
                        yield RawObject(parts[0], parts[1], size, None, content)
                        content.drain()
                        if content.left:
                            bad = parts[0]
                            break
                    out.read(1)  # the newline after the content
                else:
                    in_step = True
            finally:
                if not in_step:  # dead, or abandoned half-way: start afresh next time
                    self.close()
                feeder.join(timeout=10)
            if bad is not None:
                warn(f"git cannot read object {bad.decode('ascii', 'replace')} (corrupt or "
                     "truncated); skipped, and the scan goes on")  # fmt: skip
                failed.append(bad)


# --- Where matching objects live ------------------------------------------------------------


@dataclass(slots=True)
class _Commit:
    oid: str
    author: str | None = None
    email: str | None = None
    date: str | None = None


def parse_person(raw: bytes, field_name: bytes) -> tuple[str | None, str | None, str | None]:
    """Name, email and ISO date from an `author`/`tagger` header of a commit or tag object."""
    from datetime import UTC, datetime, timedelta, timezone

    for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(field_name + b" "):
            rest = line[len(field_name) + 1 :].decode("utf-8", "replace")
            name, _, tail = rest.partition(" <")
            email, _, when = tail.partition("> ")
            date = None
            stamp = when.split()
            if len(stamp) == 2 and stamp[0].isdigit():
                sign = -1 if stamp[1].startswith("-") else 1
                digits = stamp[1].lstrip("+-")
                if len(digits) == 4 and digits.isdigit():
                    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                    tz = timezone(sign * offset) if offset else UTC
                    date = datetime.fromtimestamp(int(stamp[0]), tz).isoformat()
            return name, email, date
    return None, None, None


def _reachable_commits(repo: Repo) -> set[bytes]:
    out = repo.run("rev-list", "--all", "--reflog", "--missing=allow-any", check=False)
    return set(out.split())


def _notes_blobs(repo: Repo) -> dict[bytes, str]:
    """Blob -> the object it annotates, for every notes ref."""
    refs = repo.run("for-each-ref", "--format=%(refname)", "refs/notes/").split()
    if not refs:
        return {}
    out = repo.run(
        "rev-list", "--objects", "--missing=allow-any", *(r.decode() for r in refs), check=False
    )
    notes = {}
    for line in out.splitlines():
        oid, _, path = line.partition(b" ")
        name = path.replace(b"/", b"")
        if len(name) in (40, 64):  # a fan-out path naming the annotated object
            notes[oid] = name.decode("ascii", "replace")
    return notes


def _find_paths(
    repo: Repo, wanted: set[bytes], revs: Sequence[str], stdin: bytes | None = None
) -> dict[bytes, set[str]]:
    """Paths at which the history `revs` holds each wanted blob; stops once all are found."""
    args = ["rev-list", "--objects", "--in-commit-order", "--missing=allow-any", *revs]
    if stdin is not None:  # commit IDs on stdin; older git takes no options there
        args += ["--stdin", "--not", "--all", "--reflog"]
    proc = repo.popen(*args, stdin=subprocess.PIPE if stdin is not None else None)
    assert proc.stdout is not None
    if stdin is not None:
        assert proc.stdin is not None
        threading.Thread(target=_write_and_close, args=(proc.stdin, stdin), daemon=True).start()
    paths: dict[bytes, set[str]] = {}
    left = set(wanted)
    try:
        for line in proc.stdout:
            oid, sep, path = line.rstrip(b"\n").partition(b" ")
            if sep and oid in left:
                paths.setdefault(oid, set()).add(path.decode("utf-8", "surrogateescape"))
                left.discard(oid)
                if not left:
                    break
    finally:
        proc.kill()
        proc.wait()
    return paths


def _write_and_close(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):
        stream.write(data)
        stream.close()


_LOG_ARGS = (
    "log", "--raw", "--no-abbrev", "--no-renames", "--no-textconv", "--no-ext-diff",
    "--no-show-signature", "--format=%x01%H%x00%an%x00%ae%x00%aI",
)  # fmt: skip


def _parse_log(output: bytes, wanted: set[bytes]) -> dict[bytes, list[tuple[str, _Commit]]]:
    """(path, commit) for every raw diff line of `git log --raw` whose result is wanted."""
    found: dict[bytes, list[tuple[str, _Commit]]] = {}
    if len(wanted) <= 64:  # few blobs (the usual case): jump to them instead of reading all
        for oid in wanted:
            at = output.find(oid)
            while at >= 0:
                start = output.rfind(b"\n", 0, at) + 1
                end = output.find(b"\n", at)
                end = len(output) if end < 0 else end
                head = output.rfind(b"\x01", 0, start)  # the commit line above (%x01...)
                if head >= 0 and output[start : start + 1] == b":":
                    commit_line = output[head : output.find(b"\n", head)]
                    _record(output[start:end], commit_line, wanted, found)
                at = output.find(oid, end)
        return found
    commit_line = b""
    for line in output[:].split(b"\n"):
        if line.startswith(b"\x01"):
            commit_line = line
        elif line.startswith(b":"):
            _record(line, commit_line, wanted, found)
    return found


def _record(
    line: bytes, commit_line: bytes, wanted: set[bytes],
    found: dict[bytes, list[tuple[str, _Commit]]],
) -> None:  # fmt: skip
    meta, _, path = line.partition(b"\t")
    fields = meta.lstrip(b":").split()
    # One colon per parent; then n+1 modes, n+1 object IDs (the result last), status.
    parents = len(meta) - len(meta.lstrip(b":"))
    if len(fields) < 2 * parents + 2:
        return
    new = fields[2 * parents + 1]
    if new in wanted and commit_line:
        oid, author, email, date = commit_line[1:].decode("utf-8", "replace").split("\0")
        name = path.decode("utf-8", "surrogateescape")
        found.setdefault(new, []).append((name, _Commit(oid, author, email, date)))


def _introductions(
    repo: Repo, wanted: set[bytes], revs: Sequence[str], stdin: bytes | None = None,
    paths: set[str] | None = None,
) -> dict[bytes, list[tuple[str, _Commit]]]:  # fmt: skip
    """For each wanted blob, every (path, commit) where a commit's tree gained it at that path.

    Without `paths`: one pass over every non-merge commit's changes (all paths, so copies
    and renames count). With `paths`: merges too (`-c`: a merge whose result differs from
    every parent, as in an evil merge or a stash), limited to those paths so git diffs little.
    """
    args = list(_LOG_ARGS)
    if paths is not None:
        args += ["-c", "--full-history"]
    args += revs
    if stdin is not None:
        args += ["--stdin", "--not", "--all", "--reflog"]
    if paths is not None:
        args += ["--", *sorted(paths)]
    proc = subprocess.run(
        repo.command(*args), input=stdin, capture_output=True, check=False,
        env={**repo.env, "GIT_LITERAL_PATHSPECS": "1"}, cwd=repo.work_tree or repo.git_dir,
    )  # fmt: skip
    return _parse_log(proc.stdout, wanted)


class HistoryLog:
    """The changes of every non-merge commit in `revs`, recorded in the background.

    Started as soon as the first object matches, so that git walks history while the other
    objects are still being scanned; read back once the scan knows every matching blob.
    """

    def __init__(self, repo: Repo, revs: Sequence[str]) -> None:
        # Closed by introductions() or close(), which outlive this call.
        self._output = tempfile.TemporaryFile(prefix="keyscan-log-")  # noqa: SIM115
        self._proc = subprocess.Popen(
            repo.command(*_LOG_ARGS, *revs), stdout=self._output, stderr=subprocess.DEVNULL,
            env=repo.env, cwd=repo.work_tree or repo.git_dir,
        )  # fmt: skip

    def introductions(self, wanted: set[bytes]) -> dict[bytes, list[tuple[str, _Commit]]]:
        self._proc.wait()
        self._output.seek(0)
        with self._output:
            size = os.fstat(self._output.fileno()).st_size
            if not size:
                return {}
            with mmap.mmap(self._output.fileno(), 0, access=mmap.ACCESS_READ) as output:
                return _parse_log(output, wanted)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._output.close()


def locate_blobs(
    repo: Repo, wanted: set[bytes], objects: ObjectList, history_revs: Sequence[str],
    log: HistoryLog | None = None,
) -> dict[bytes, list[Provenance]]:  # fmt: skip
    """Provenance for the blobs that matched: notes, reachable history, unreachable, index.

    Paid only for matching blobs: most scans have few, so the history walk stays short.
    """
    result: dict[bytes, list[Provenance]] = {}
    left = set(wanted)

    notes = _notes_blobs(repo) if not history_revs else {}
    for oid in left & set(notes):
        result[oid] = [Provenance("git", notes[oid], kind="note", reachable=True)]
    left -= set(result)

    revs = list(history_revs) or ["--all", "--reflog"]
    if left:
        _add_history(repo, left, revs, None, True, result, log)
        left -= set(result)
    if left and not history_revs:
        reachable = _reachable_commits(repo)
        dangling = sorted(objects.commits - reachable)
        if dangling:
            _add_history(repo, left, [], b"\n".join(dangling) + b"\n", False, result)
            left -= set(result)
    if left and repo.work_tree is not None:
        for oid, path in _index_entries(repo).items():
            if oid in left:
                result[oid] = [Provenance("git", path, kind="blob", reachable=False)]
        left -= set(result)
    for oid in left:
        result[oid] = [Provenance("git", None, kind="blob", reachable=False)]
    return result


def _add_history(
    repo: Repo, wanted: set[bytes], revs: Sequence[str], stdin: bytes | None, reachable: bool,
    result: dict[bytes, list[Provenance]], log: HistoryLog | None = None,
) -> None:  # fmt: skip
    """Every path and introducing commit of the wanted blobs in the history `revs` selects."""
    intros = log.introductions(wanted) if log else _introductions(repo, wanted, revs, stdin)
    paths: dict[bytes, set[str]] = {}
    missing = wanted - set(intros)
    if missing:  # only merges hold these (evil merges, stashes), or no diff shows them
        paths = _find_paths(repo, missing, revs, stdin)
        if paths:
            merged = _introductions(repo, set(paths), revs, stdin, set().union(*paths.values()))
            for oid, places in merged.items():
                intros.setdefault(oid, []).extend(places)
    for oid in set(intros) | set(paths):
        seen: set[tuple[str, str]] = set()
        provenances = []
        for path, c in intros.get(oid, []):
            if (path, c.oid) not in seen:
                seen.add((path, c.oid))
                provenances.append(
                    Provenance("git", path, kind="blob", commit=c.oid, author=c.author,
                               email=c.email, date=c.date, reachable=reachable)
                )  # fmt: skip
        # Seen in a tree but no introducing commit found (e.g. beyond a shallow boundary).
        known = {p.path for p in provenances}
        provenances += [
            Provenance("git", name, kind="blob", reachable=reachable)
            for name in sorted(paths.get(oid, set()) - known)
        ]
        result[oid] = provenances


def _index_entries(repo: Repo) -> dict[bytes, str]:
    out = repo.run("ls-files", "--stage", "-z", check=False)
    entries = {}
    for record in out.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3:
            entries[parts[1]] = path.decode("utf-8", "surrogateescape")
    return entries


def message_provenance(
    repo: Repo, kind: bytes, oid: bytes, raw: bytes, reachable: Callable[[bytes], bool]
) -> Provenance:
    """Where a commit or tag message was seen: its object, author and date."""
    if kind == b"commit":
        name, email, date = parse_person(raw, b"author")
        return Provenance("git", None, kind="commit message", commit=oid.decode(), author=name,
                          email=email, date=date, reachable=reachable(oid))  # fmt: skip
    name, email, date = parse_person(raw, b"tagger")
    tag = next(
        (
            line[4:].decode("utf-8", "replace")
            for line in raw.split(b"\n")
            if line.startswith(b"tag ")
        ),
        None,
    )
    return Provenance(
        "git", f"refs/tags/{tag}" if tag else None, kind="tag message", commit=oid.decode(),
        author=name, email=email, date=date, reachable=True,
    )  # fmt: skip


class Reachability:
    """Whether a commit is reachable from any ref or reflog; computed once, on first need."""

    def __init__(self, repo: Repo) -> None:
        self._repo = repo
        self._commits: set[bytes] | None = None

    def __call__(self, oid: bytes) -> bool:
        if self._commits is None:
            self._commits = _reachable_commits(self._repo)
        return oid in self._commits


# --- The work tree -------------------------------------------------------------------------


def blob_id(data: bytes) -> bytes:
    """The object ID git would give this content (SHA-1 repositories)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest().encode()


def worktree_candidates(repo: Repo) -> list[str]:
    """Work-tree files that may hold content not in the object database: tracked files (the
    caller compares contents) and untracked files that are not ignored."""
    assert repo.work_tree is not None
    tracked = repo.run("ls-files", "-z", "--cached", check=False).split(b"\0")
    untracked = repo.run("ls-files", "-z", "--others", "--exclude-standard", check=False).split(
        b"\0"
    )
    names = sorted({os.fsdecode(p) for p in (*tracked, *untracked) if p})
    return [os.path.join(repo.work_tree, name) for name in names]
