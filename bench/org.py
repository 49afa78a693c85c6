#!/usr/bin/env python3
"""Organization scans: the cost per repository, and how throughput grows with --jobs.

Builds N tiny repositories (a few commits each, one with a generated key every 50), then times,
interleaved: `keyscan org scan` with -j 1 and -j <cores>, a re-run over the unchanged set
(incremental: objects known clean are not read again), and for scale `keyscan scan` of one
repository (the per-repository floor a shell loop over `keyscan scan` would pay N times).

    python bench/org.py [--repos 500] [--runs 3] [--keyscan CMD]

Standard library only; everything is built under bench/work/org (git-ignored).
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
WORK = HERE / "work" / "org"


def build(count: int, seed: int) -> tuple[Path, int]:
    """`count` repositories under WORK/repos-<count>; returns the folder and the keys planted."""
    root = WORK / f"repos-{count}-{seed}"
    planted = count // 50 + (1 if count % 50 else 0)
    if root.exists():
        return root, planted
    rng = random.Random(seed)
    tmp = root.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for n in range(count):
        repo = tmp / f"team-{n // 100:02d}" / f"repo-{n:04d}"
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        for c in range(3):
            text = "".join(f"line {i} {rng.random()}\n" for i in range(40))
            if c == 1 and n % 50 == 0:
                key_id, secret = generated_pair(rng)
                text += f"aws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
            (repo / f"file{c}.txt").write_text(text)
            git(repo, "add", ".")
            git(repo, "commit", "-q", "-m", f"commit {c}")
    tmp.rename(root)
    return root, planted


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - started, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--keyscan", help="keyscan command (default: keyscan on PATH)")
    args = parser.parse_args()
    keyscan = shlex.split(args.keyscan) if args.keyscan else (
        ["keyscan"] if shutil.which("keyscan") else [sys.executable, "-m", "keyscan"]
    )  # fmt: skip
    root, planted = build(args.repos, args.seed)
    cores = os.cpu_count() or 1
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    one = next(root.glob("*/repo-0001"))
    plans = {
        "org scan -j 1": ["-j", "1"],
        f"org scan -j {cores}": ["-j", str(cores)],
    }
    times: dict[str, list[float]] = {name: [] for name in [*plans, "re-run (incremental)",
                                                            "scan of 1 repository"]}  # fmt: skip
    for run in range(args.runs):
        for name, extra in plans.items():
            db = WORK / f"bench-{run}-{extra[1]}.db"
            db.unlink(missing_ok=True)
            seconds, proc = timed([*keyscan, "org", "scan", "-q", "--db", str(db), *extra,
                                   str(root)], env)  # fmt: skip
            if proc.returncode != 0:
                sys.exit(f"{name} failed: {proc.stderr[-500:]}")
            times[name].append(seconds)
            if name.endswith(str(cores)):
                seconds, proc = timed([*keyscan, "org", "scan", "-q", "--db", str(db), *extra,
                                       str(root)], env)  # fmt: skip
                times["re-run (incremental)"].append(seconds)
                report = subprocess.run([*keyscan, "report", "--db", str(db), "-f", "json"],
                                        capture_output=True, text=True, env=env)  # fmt: skip
                found = report.stdout.count('"rule": "aws.access-key-pair"')
                if found != planted:
                    sys.exit(f"found {found} key pairs, planted {planted}")
        seconds, _ = timed([*keyscan, "scan", "-q", "-f", "json", "-o", os.devnull, str(one)], env)
        times["scan of 1 repository"].append(seconds)
    print(f"{args.repos} repositories of 3 commits, {planted} with a key; {cores} cores; "
          f"median of {args.runs} interleaved runs")  # fmt: skip
    base = statistics.median(times["org scan -j 1"])
    print(f"{'command':<26} {'median s':>9} {'per repository ms':>18} {'-j 1 ÷ it':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        per = median / (1 if name.startswith("scan of") else args.repos) * 1000
        print(f"{name:<26} {median:>9.2f} {per:>18.1f} {base / median:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
