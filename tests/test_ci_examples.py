"""The ready-to-copy CI examples in docs/ci/ work as written.

Their scan steps are run for real, with the shell, against a repository whose pull-request
range holds a generated key: the step must fail, and the report it names must hold the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitrepo import GitRepo
from keys import key_id, secret_key

DOCS = Path(__file__).resolve().parent.parent / "docs" / "ci"
ZERO = "0" * 40


def load(name: str) -> Any:
    return yaml.safe_load((DOCS / name).read_text(encoding="utf-8"))


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[GitRepo, str, str]:
    """A repository with a clean base commit and a head commit that adds a key pair.

    Returns the repository, the base commit and the key ID."""
    repo = GitRepo.init(tmp_path / "repo")
    repo.write("README.md", "hello\n")
    base = repo.commit("base")
    kid = key_id()
    repo.write(
        "deploy/creds.ini", f"aws_access_key_id = {kid}\naws_secret_access_key = {secret_key()}\n"
    )
    repo.commit("add deploy settings")
    return repo, base, kid


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A CI step's script, run by the shell with keyscan (this venv's) on PATH."""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    full = {**os.environ, "PATH": path, **env}
    return subprocess.run(["sh", "-ec", script], cwd=cwd, env=full, capture_output=True,
                          text=True, check=False)  # fmt: skip


class TestGitHubActions:
    def steps(self) -> list[dict[str, Any]]:
        workflow = load("github-actions.yml")
        assert workflow["permissions"]["security-events"] == "write"
        return list(workflow["jobs"]["keyscan"]["steps"])

    def test_checkout_fetches_history_and_sarif_is_uploaded_even_on_failure(self) -> None:
        steps = self.steps()
        checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["fetch-depth"] == 0
        upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
        assert upload["if"] == "always()"
        scan = next(s for s in steps if "keyscan scan" in s.get("run", ""))
        assert f"--output {upload['with']['sarif_file']}" in scan["run"]

    @pytest.mark.parametrize("event_base", ["base", ZERO])
    def test_scan_step_fails_on_a_key_in_the_range(
        self, pushed: tuple[GitRepo, str, str], event_base: str
    ) -> None:
        """A pull request's base, or a new branch's all-zero "before" (whole history)."""
        repo, base, kid = pushed
        scan = next(s for s in self.steps() if "keyscan scan" in s.get("run", ""))
        base_sha = base if event_base == "base" else ZERO
        proc = run_step(scan["run"], repo.path, {"BASE": base_sha})
        assert proc.returncode == 1, proc.stderr
        sarif = json.loads((repo.path / "keyscan.sarif").read_text(encoding="utf-8"))
        results = sarif["runs"][0]["results"]
        assert [r["properties"]["keyId"] for r in results] == [kid]
        uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "deploy/creds.ini"

    def test_scan_step_passes_when_the_range_is_clean(
        self, pushed: tuple[GitRepo, str, str]
    ) -> None:
        repo, _, _ = pushed
        head = repo.rev("HEAD")
        repo.write("docs.md", "more text\n")
        repo.commit("docs")
        scan = next(s for s in self.steps() if "keyscan scan" in s.get("run", ""))
        proc = run_step(scan["run"], repo.path, {"BASE": head})
        assert proc.returncode == 0, proc.stderr
        assert json.loads((repo.path / "keyscan.sarif").read_text())["runs"][0]["results"] == []


class TestGitLab:
    def job(self) -> dict[str, Any]:
        job = load("gitlab-ci.yml")["keyscan"]
        assert job["variables"]["GIT_DEPTH"] == "0"
        assert job["artifacts"]["when"] == "always"
        return dict(job)

    def test_merge_request_with_a_key_fails_and_keeps_the_report(
        self, pushed: tuple[GitRepo, str, str]
    ) -> None:
        repo, base, kid = pushed
        job = self.job()
        proc = run_step("\n".join(job["script"]), repo.path,
                        {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert kid in proc.stdout  # the text report, in the job log
        report = json.loads((repo.path / job["artifacts"]["paths"][0]).read_text())
        assert [f["key_id"] for f in report["findings"]] == [kid]

    def test_push_of_clean_commits_passes(self, pushed: tuple[GitRepo, str, str]) -> None:
        repo, _, _ = pushed
        head = repo.rev("HEAD")
        repo.write("docs.md", "more text\n")
        repo.commit("docs")
        proc = run_step("\n".join(self.job()["script"]), repo.path,
                        {"CI_COMMIT_BEFORE_SHA": head})  # fmt: skip
        assert proc.returncode == 0, proc.stderr
