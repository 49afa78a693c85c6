"""Real git repositories for tests, built with the git command line in a temporary folder.

Every git call runs with a fixed identity and a clock that moves one hour per object-creating
step, so authors and dates in reports can be predicted exactly. Inherited GIT_* variables are
dropped (except the isolated global config that conftest sets), so that a test which sets
GIT_DIR for keyscan's sake does not redirect the repository being built.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

NAME, EMAIL = "T", "t@example.com"
START = 1_600_000_000  # 2020-09-13: in the past, so that reflog expiry "now" covers it
_KEEP = {"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"}
_SETTINGS = (
    "-c", f"user.name={NAME}",
    "-c", f"user.email={EMAIL}",
    "-c", "init.defaultBranch=main",
    "-c", "protocol.file.allow=always",
    "-c", "commit.gpgSign=false",
    "-c", "tag.gpgSign=false",
    "-c", "gc.auto=0",
    "-c", "advice.detachedHead=false",
)  # fmt: skip


def iso(stamp: int) -> str:
    """The ISO date keyscan reports for a UTC timestamp."""
    return datetime.fromtimestamp(stamp, UTC).isoformat()


def run_git(
    cwd: Path, *args: str, stamp: int = START, input: bytes | None = None,
    env: dict[str, str] | None = None, check: bool = True,
) -> str:  # fmt: skip
    """Run git in `cwd` with the test identity and dates; fail loudly with git's message."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP}
    date = f"@{stamp} +0000"
    full_env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date, **(env or {}))
    proc = subprocess.run(
        ["git", *_SETTINGS, *args], cwd=cwd, env=full_env, input=input,
        capture_output=True, check=False,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed in {cwd}:\n{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout.decode("utf-8", "surrogateescape").strip()


class GitRepo:
    """A repository at `path` (a work tree, or a bare git directory)."""

    def __init__(self, path: Path, *, bare: bool = False) -> None:
        self.path = path
        self.bare = bare
        self.stamp = START
        self.dates: dict[str, str] = {}  # commit or tag id -> the date keyscan should report

    # --- creating ------------------------------------------------------------------------

    @classmethod
    def init(cls, path: Path, *, bare: bool = False) -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        run_git(path, "init", "-q", *(["--bare"] if bare else []))
        return cls(path, bare=bare)

    @classmethod
    def clone(cls, source: GitRepo, path: Path, *options: str) -> GitRepo:
        """`git clone OPTIONS file://SOURCE PATH` (file:// so that only reachable objects go)."""
        run_git(path.parent, "clone", "-q", *options, f"file://{source.path}", str(path))
        bare = "--bare" in options or "--mirror" in options
        clone = cls(path, bare=bare)
        clone.stamp, clone.dates = source.stamp, dict(source.dates)
        return clone

    # --- running git -----------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        return self.path if self.bare else self.path / ".git"

    def git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> str:  # fmt: skip
        return run_git(self.path, *args, stamp=self.stamp, input=input, env=env, check=check)

    def tick(self) -> int:
        """Move the clock on by an hour (before a step that creates a commit or tag)."""
        self.stamp += 3600
        return self.stamp

    def _record(self, oid: str) -> str:
        self.dates[oid] = iso(self.stamp)
        return oid

    def rev(self, name: str) -> str:
        return self.git("rev-parse", "--verify", "--end-of-options", name)

    # --- the work tree ---------------------------------------------------------------------

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            path.write_text(text)
        else:
            path.write_bytes(text)
        return path

    def remove(self, name: str) -> None:
        self.git("rm", "-q", "--", name)

    def add(self, *names: str) -> None:
        self.git("add", "-A", "--", *(names or (".",)))

    # --- history ---------------------------------------------------------------------------

    def commit(self, message: str = "change", *, author: tuple[str, str] | None = None,
               stage: bool = True) -> str:  # fmt: skip
        """Stage everything (unless `stage` is false), commit, and return the commit id."""
        if stage:
            self.add()
        self.tick()
        args = ["commit", "-q", "--allow-empty", "-m", message]
        if author is not None:
            args.append(f"--author={author[0]} <{author[1]}>")
        self.git(*args)
        return self._record(self.rev("HEAD"))

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("branch", name, start)

    def checkout(self, name: str, *options: str) -> None:
        self.git("checkout", "-q", *options, name)

    def merge(self, name: str, *options: str) -> str:
        self.tick()
        self.git("merge", "-q", *options, name)
        return self._record(self.rev("HEAD"))

    def tag(self, name: str, rev: str = "HEAD", message: str | None = None) -> str:
        """A lightweight tag, or an annotated one when `message` is given; returns the tag id."""
        if message is None:
            self.git("tag", name, rev)
            return self.rev(f"refs/tags/{name}")
        self.tick()
        self.git("tag", "-a", name, "-m", message, rev)
        return self._record(self.rev(f"refs/tags/{name}"))

    def stash(self, *options: str) -> str:
        """`git stash push OPTIONS`; returns the stash commit."""
        self.tick()
        self.git("stash", "push", "-q", *options)
        oid = self.rev("refs/stash")
        self._record(self.rev("refs/stash^2"))
        if "-u" in options or "--include-untracked" in options:
            self._record(self.rev("refs/stash^3"))
        return self._record(oid)

    def note(self, text: str, rev: str = "HEAD") -> str:
        """`git notes add`; returns the id of the note blob."""
        self.tick()
        self.git("notes", "add", "-m", text, rev)
        return self.git("notes", "list", rev)

    def hash_object(self, data: bytes) -> str:
        """Write a blob that no tree holds (a dangling blob)."""
        return self.git("hash-object", "-w", "--stdin", input=data)

    def expire_reflogs(self) -> None:
        """Forget every reflog entry, so that only refs keep commits reachable."""
        self.git("reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all")

    def fake_sign_head(self) -> str:
        """Rewrite HEAD's commit with a (bogus) PGP signature header; returns the new id.

        Enough for `git log` to call gpg.program when log.showSignature is on.
        """
        head, _, message = self.git("cat-file", "commit", "HEAD").partition("\n\n")
        signature = (
            "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEEAAAAAAAAAAAAAAAA\n"
            " -----END PGP SIGNATURE-----"
        )
        raw = f"{head}\n{signature}\n\n{message}\n".encode()
        oid = self.git("hash-object", "-t", "commit", "-w", "--stdin", input=raw)
        self.git("update-ref", "HEAD", oid)
        self.dates[oid] = iso(self.stamp)
        return oid

    def loose_object(self, oid: str) -> Path:
        return self.git_dir / "objects" / oid[:2] / oid[2:]

    def config(self, name: str, value: str) -> None:
        self.git("config", name, value)
