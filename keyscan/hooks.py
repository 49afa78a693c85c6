"""Git hooks: install and remove them, and scan what a push or a commit is about to add.

A pre-push scan covers exactly the objects the push sends (`rev-list --objects LOCAL --not
REMOTE`): every commit of it, so a key added and deleted again within the push is still found.
A pre-commit scan covers the staged content (the index), not the work tree.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from keyscan.errors import SourceError
from keyscan.model import Blob, Provenance
from keyscan.sources import files, git

HOOKS = ("pre-push", "pre-commit")
MARKER = "# keyscan hook"  # how install and uninstall recognise a hook of ours
PREVIOUS = ".keyscan-previous"  # suffix of the hook that was there before, still run first
_ZERO = re.compile(r"0+")


class HookError(SourceError):
    """A hook that cannot be installed, removed or run as asked."""


# --- The repository a hook runs in -----------------------------------------------------------


def find_repo(cwd: str | None = None) -> git.Repo:
    """The repository git runs the hook in, or the one the user is in.

    Git may export GIT_DIR (and GIT_WORK_TREE) to hooks: they name the repository, so they
    are honoured; every other GIT_* variable (an inherited GIT_INDEX_FILE, say) is not.
    """
    env = git.safe_env()
    for name in ("GIT_DIR", "GIT_WORK_TREE"):
        if os.environ.get(name):
            env[name] = os.path.abspath(os.environ[name])

    def ask(*args: str) -> str | None:
        proc = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "rev-parse", *args],
            cwd=cwd, env=env, capture_output=True, check=False,
        )  # fmt: skip
        return os.fsdecode(proc.stdout).strip() if proc.returncode == 0 else None

    git_dir = ask("--absolute-git-dir")
    if git_dir is None:
        raise HookError(
            f"{os.path.abspath(cwd or '.')} is not in a git repository; run this inside the "
            "repository (git runs hooks there)"
        )
    bare = ask("--is-bare-repository") == "true"
    top = None if bare else ask("--show-toplevel")
    return git.Repo(git_dir, top or None)


def hooks_dir(repo: git.Repo) -> Path:
    """The folder git runs this repository's hooks from, honouring core.hooksPath."""
    proc = subprocess.run(
        ["git", "-c", "core.fsmonitor=false", "rev-parse", "--git-path", "hooks"],
        cwd=repo.work_tree or repo.git_dir, env=git.safe_env(repo.git_dir),
        capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise HookError(f"git cannot tell the hooks folder of {repo.git_dir}")
    path = Path(os.fsdecode(proc.stdout).strip()).expanduser()
    return path if path.is_absolute() else Path(repo.work_tree or repo.git_dir) / path


# --- install / uninstall -----------------------------------------------------------------------

_SCRIPT = """#!/bin/sh
{marker}: installed by `keyscan hook install`. `keyscan hook uninstall` removes it and puts
# back the hook that was here before; until then that hook ({previous_name}) still runs first.
hook_dir=$(dirname -- "$0")
previous="$hook_dir/{previous_name}"
keyscan_python={python}
run_keyscan() {{
  if [ -x "$keyscan_python" ]; then
    "$keyscan_python" -m keyscan "$@"
  elif command -v keyscan >/dev/null 2>&1; then
    keyscan "$@"
  else
    echo "keyscan hook: keyscan is not installed any more ($keyscan_python is gone); install" \\
      "it again, or remove this hook with 'keyscan hook uninstall'" >&2
    return 2
  fi
}}
{body}"""

_BODIES = {
    # git writes the refs being pushed to stdin: both hooks need them.
    "pre-push": """input=$(cat; echo x)
input=${input%x}
if [ -x "$previous" ]; then
  printf '%s' "$input" | "$previous" "$@" || exit $?
fi
printf '%s' "$input" | run_keyscan hook pre-push "$@"
""",
    "pre-commit": """if [ -x "$previous" ]; then
  "$previous" "$@" || exit $?
fi
run_keyscan hook pre-commit
""",
}


def hook_script(kind: str, python: str = sys.executable) -> str:
    return _SCRIPT.format(
        marker=MARKER,
        previous_name=kind + PREVIOUS,
        python=shlex.quote(python),
        body=_BODIES[kind],
    )


def _ours(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return MARKER.encode() in handle.read(4096)
    except OSError:
        return False


def install(repo: git.Repo, kinds: Sequence[str]) -> list[str]:
    """Write keyscan's hooks, keeping any hook already there (it still runs first).
    Idempotent. Returns what was done, one line per hook."""
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for kind in kinds:
        path, previous = folder / kind, folder / (kind + PREVIOUS)
        if path.is_symlink() or path.exists():
            if _ours(path) and not path.is_symlink():
                action = "updated"
            elif previous.exists() or previous.is_symlink():
                raise HookError(
                    f"{path} is not keyscan's, and {previous.name} is taken too; move one of "
                    "them away and install again"
                )
            else:
                os.replace(path, previous)
                action = f"installed (the existing hook is kept as {previous.name} and runs first)"
        else:
            action = "installed"
        temporary = path.with_name(path.name + ".keyscan-tmp")
        temporary.write_text(hook_script(kind), encoding="utf-8")
        temporary.chmod(temporary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(temporary, path)
        done.append(f"{kind} hook {action}: {path}")
    return done


def uninstall(repo: git.Repo, kinds: Sequence[str]) -> list[str]:
    """Remove keyscan's hooks and put back what was there before."""
    folder = hooks_dir(repo)
    done = []
    for kind in kinds:
        path, previous = folder / kind, folder / (kind + PREVIOUS)
        if not (path.exists() or path.is_symlink()):
            done.append(f"{kind}: no hook installed at {path}")
        elif not _ours(path) or path.is_symlink():
            done.append(f"{kind}: {path} is not keyscan's hook; left as it is")
        elif previous.exists() or previous.is_symlink():
            os.replace(previous, path)
            done.append(f"{kind} hook removed; the previous hook is back at {path}")
        else:
            path.unlink()
            done.append(f"{kind} hook removed: {path}")
    return done


# --- pre-push ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushedRef:
    """One line git gives a pre-push hook."""

    local_ref: str
    local_oid: str
    remote_ref: str
    remote_oid: str


def parse_push_lines(text: str) -> list[PushedRef]:
    refs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not all(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", p)
                                      for p in (parts[1], parts[3])):  # fmt: skip
            raise HookError(
                f"pre-push input line {number} is not `local_ref local_oid remote_ref "
                f"remote_oid`: {line[:200]!r}; `keyscan hook pre-push` is meant to be run by git"
            )
        refs.append(PushedRef(*parts))
    return refs


def framework_push(repo: git.Repo, env: Mapping[str, str]) -> list[PushedRef]:
    """The push as the pre-commit framework describes it in its pre-push stage: the commit
    being pushed (PRE_COMMIT_TO_REF, else the local branch) and what the remote has
    (PRE_COMMIT_FROM_REF; absent for a branch with no commit on the remote)."""
    to_ref = env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH")
    if not to_ref:
        return []
    zero = "0" * 40
    from_ref = env.get("PRE_COMMIT_FROM_REF")
    return [
        PushedRef(
            to_ref, _resolve(repo, to_ref), "", _resolve(repo, from_ref) if from_ref else zero
        )
    ]


def _resolve(repo: git.Repo, name: str) -> str:
    """The object ID `name` stands for (never read as an option)."""
    oid = repo.run("rev-parse", "--verify", "--quiet", "--end-of-options", name, check=False)
    if not oid.strip():
        raise HookError(f"{name!r} is not a commit or tag in {repo.git_dir}")
    return oid.decode("ascii").strip()


def _exists(repo: git.Repo, oid: str) -> bool:
    return bool(repo.run("rev-parse", "--verify", "--quiet", f"{oid}^{{commit}}", check=False))


def push_revs(
    repo: git.Repo, refs: Sequence[PushedRef], remote: str | None, url: str | None = None
) -> tuple[str, ...]:
    """rev-list arguments selecting what the push adds: the local tips, minus what the remote
    is known to have (the ref being updated, else everything of the remote's we track)."""
    remote = _remote_name(repo, remote, url)
    tips: list[str] = []
    have: set[str] = set()
    tracked: list[str] | None = None
    for ref in refs:
        if _ZERO.fullmatch(ref.local_oid):
            continue  # a deletion sends nothing
        tips.append(ref.local_oid)
        if not _ZERO.fullmatch(ref.remote_oid) and _exists(repo, ref.remote_oid):
            have.add(ref.remote_oid)
        else:  # a new ref, or the remote moved to a commit we do not have
            if tracked is None:
                tracked = _remote_tips(repo, remote)
            have.update(tracked)
    if not tips:
        return ()
    return (*dict.fromkeys(tips), *(f"^{oid}" for oid in sorted(have)))


def _remote_name(repo: git.Repo, remote: str | None, url: str | None) -> str | None:
    """The configured remote being pushed to: git passes its name, or the URL twice when the
    push names a URL, which may still be a configured remote's."""
    out = repo.run("config", "-z", "--get-regexp", r"^remote\..*\.(push)?url$", check=False)
    by_url: dict[str, str] = {}
    names = set()
    for entry in out.decode("utf-8", "surrogateescape").split("\0"):
        key, _, value = entry.partition("\n")
        name = key[len("remote.") :].rsplit(".", 1)[0]
        names.add(name)
        by_url.setdefault(value, name)
    if remote in names:
        return remote
    return by_url.get(url or remote or "")


def _remote_tips(repo: git.Repo, remote: str | None) -> list[str]:
    if not remote:  # a URL no configured remote has: nothing of it is tracked
        return []
    out = repo.run("for-each-ref", "--format=%(objectname)", f"refs/remotes/{remote}/", check=False)
    return [oid for oid in out.decode("ascii", "replace").split() if _exists(repo, oid)]


# --- pre-commit ---------------------------------------------------------------------------------


def staged_blobs(repo: git.Repo, index_file: str | None, warn: files.Warn) -> Iterator[Blob]:
    """The blobs the next commit would add or change, at their paths, read from the index
    (`index_file`: the one git gave the hook, e.g. a temporary index for `commit -a`)."""
    env = repo.env
    if index_file:
        env["GIT_INDEX_FILE"] = os.path.abspath(index_file)
    has_head = _exists(repo, "HEAD")
    base = "HEAD" if has_head else repo.run("hash-object", "-t", "tree", "--stdin").decode().strip()
    proc = subprocess.run(
        repo.command("diff-index", "--cached", "-z", "--no-renames", "--diff-filter=d", base),
        cwd=repo.work_tree or repo.git_dir, env=env, capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise HookError(f"git cannot list the staged changes in {repo.git_dir}: {message}")
    fields = proc.stdout.split(b"\0")
    paths: dict[bytes, list[str]] = {}
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.split()
        if len(parts) >= 4 and parts[1] != b"160000" and not _ZERO.fullmatch(parts[3].decode()):
            paths.setdefault(parts[3], []).append(os.fsdecode(path))
    failed: list[bytes] = []
    cat_file = git.CatFile(repo)
    try:
        for obj in cat_file.read(list(paths), warn, failed, whole=files.CHUNK):
            where = [Provenance("git", p, kind="staged") for p in paths[obj.oid]]
            if obj.data is not None:
                data = files.prepare(obj.data)
                if data is not None:
                    yield from (Blob(data, p) for p in where)
            elif len(where) == 1:
                assert obj.stream is not None
                yield from files.read_chunks(obj.stream, where[0])
            else:  # one large blob staged at several paths: rare enough to hold in memory
                assert obj.stream is not None
                chunks = list(files.read_chunks(obj.stream, where[0]))
                yield from (replace(c, provenance=p) for p in where for c in chunks)
    finally:
        cat_file.close()
