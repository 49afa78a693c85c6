"""Where an organization's repositories are: folders searched recursively, files listing
paths or clone URLs, URLs. URLs are cloned as mirrors into a cache folder, and fetched (not
cloned again) on the next run. Credentials come from git's own configuration."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from keyscan.errors import SourceError
from keyscan.sources import git

Warn = Callable[[str], None]
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
CLONE_TIMEOUT = 3600


@dataclass(frozen=True, slots=True)
class RepoSource:
    """A repository to scan: `name` identifies it across runs (its URL without credentials,
    or its absolute path); `path` is where it is on disk (a mirror, for URLs)."""

    name: str
    path: str | None
    url: str | None = None


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


def public_url(url: str) -> str:
    """The URL without any user name or password in it (never stored nor printed)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url


def discover(sources: Sequence[str], warn: Warn) -> list[RepoSource]:
    """Every repository the sources name, each once, in a stable order."""
    found: dict[str, RepoSource] = {}
    for source in sources:
        for repo in _expand(source, warn):
            found.setdefault(repo.name, repo)
    return sorted(found.values(), key=lambda r: r.name)


def _expand(source: str, warn: Warn) -> Iterator[RepoSource]:
    if is_url(source):
        yield RepoSource(public_url(source), None, source)
    elif os.path.isdir(source):
        repos = list(find_repositories(source))
        if not repos:
            warn(f"{source} holds no git repository")
        for path in repos:
            yield RepoSource(path, path)
    elif os.path.isfile(source):
        yield from _listed(source)
    else:
        raise SourceError(f"{source} is not a folder, a file or a URL; check the name")


def _listed(list_file: str) -> Iterator[RepoSource]:
    """A file with one path or URL per line (# comments and blank lines allowed)."""
    try:
        lines = Path(list_file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read the repository list {list_file}: {exc}") from None
    base = os.path.dirname(os.path.abspath(list_file))
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if is_url(entry):
            yield RepoSource(public_url(entry), None, entry)
        else:
            path = os.path.normpath(os.path.join(base, os.path.expanduser(entry)))
            yield RepoSource(path, path)


def find_repositories(folder: str) -> Iterator[str]:
    """Work trees and bare (or mirror) repositories under `folder`, not entering either."""
    for root, dirs, files in os.walk(os.path.abspath(folder), followlinks=False):
        work_tree = ".git" in dirs or ".git" in files
        bare = "HEAD" in files and "objects" in dirs and "refs" in dirs
        if work_tree or bare:
            yield root
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))


def mirror(url: str, clone_dir: str) -> str:
    """A mirror of `url` in `clone_dir`: cloned the first time, fetched afterwards."""
    name = public_url(url)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name.split("://")[-1]).strip("_")[-80:]
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    path = os.path.join(clone_dir, f"{slug}-{digest}.git")
    env = git.safe_env()
    # Cloning is the one step that talks to remotes: allow git's usual transports, and never
    # prompt (credentials come from git's configuration: helpers, SSH agent).
    env.pop("GIT_ALLOW_PROTOCOL", None)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_SSH_COMMAND"] = env.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    safe = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]
    if os.path.isdir(path):
        command = ["git", *safe, "-C", path, "fetch", "--prune", "--quiet", "origin"]
    else:
        os.makedirs(clone_dir, exist_ok=True)
        command = ["git", *safe, "clone", "--mirror", "--quiet", "--", url, path]
    try:
        proc = subprocess.run(command, env=env, capture_output=True, timeout=CLONE_TIMEOUT,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SourceError(f"cloning {name} took over {CLONE_TIMEOUT} s; skipped") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"git exited with {proc.returncode}"
        raise SourceError(f"cannot clone or fetch {name}: {public_url(detail)}")
    return path
