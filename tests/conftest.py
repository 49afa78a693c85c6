"""Shared fixtures: an isolated environment and a runner for the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from gitrepo import GitRepo

from keyscan.cli import main


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Drop inherited GIT_* variables; a private home, cache folder and git config."""
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No user git config, no inherited GIT_* variables, a private cache folder."""
    isolate(monkeypatch, tmp_path_factory.mktemp("home"))
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
    yield


def run_cli(*args: str, input: bytes | str | None = None) -> Result:
    """Run keyscan in-process, as a user would type it."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def run_keyscan(
    *args: str, input: bytes | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run keyscan as a real subprocess (for FIFOs, signals, memory and start-up)."""
    return subprocess.run(
        [sys.executable, "-m", "keyscan", *args],
        input=input,
        capture_output=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


Report = dict[str, Any]


def scan_json(*args: str) -> tuple[int, Report, str]:
    """`keyscan scan -f json ARGS`, in-process: exit code, report, standard error."""
    result = run_cli("scan", "-f", "json", *args)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, report, result.stderr


def key_ids(report: Report) -> set[str]:
    """The key IDs of a JSON report's findings."""
    return {f["key_id"] for f in report.get("findings", []) if f["key_id"]}


def comparable(report: Report) -> list[dict[str, Any]]:
    """A JSON report's findings, their locations in a stable order, for comparing two runs."""
    findings = []
    for f in report["findings"]:
        f = dict(f)
        f["locations"] = sorted(f["locations"], key=lambda loc: json.dumps(loc, sort_keys=True))
        findings.append(f)
    return sorted(findings, key=lambda f: f["id"])


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """A repository with one commit (a README), for history tests to build on."""
    repo = GitRepo.init(tmp_path / "repo")
    repo.write("README.md", "# project\n")
    repo.commit("initial")
    return repo
