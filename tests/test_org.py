"""Organization scans (issue 7): every repository of a folder, list or clone URL, into one
datastore, reported as one finding per credential across repositories.

The organization is built at run time (tests/gitrepo.py) with keys generated at run time
(tests/keys.py): work trees, a bare clone, a mirror clone, a corrupt repository, an empty one
and a folder that is not a repository, at several depths. `keyscan org scan` runs as a real
subprocess (it starts a process pool, and one test kills it); `keyscan report` runs in-process.
Expected repositories, paths and commits come from the repositories as built, never from
keyscan.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import keys
import pytest
from conftest import Report, comparable, isolate, run_cli
from gitrepo import GitRepo, run_git

ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Example", "bob@example.com")


# --- helpers -------------------------------------------------------------------------------


@contextmanager
def isolated_git(home: Path) -> Iterator[None]:
    """conftest's isolation, for module-scoped fixtures (which run before it)."""
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, home)
        yield


def org_scan(
    *args: str, db: Path, clone_dir: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`keyscan org scan ARGS --db DB --clone-dir CLONES`, as a real subprocess."""
    clones = clone_dir or db.parent / "clones"
    return subprocess.run(
        [sys.executable, "-m", "keyscan", "org", "scan", *args, "--db", str(db),
         "--clone-dir", str(clones)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def report_json(db: Path, *args: str) -> Report:
    result = run_cli("report", "--db", str(db), "-f", "json", "--fail-on", "none", *args)
    assert result.exit_code == 0, result.output
    report: Report = json.loads(result.stdout)
    return report


def env_text(key: str, comment: str = "settings") -> str:
    """A small credentials file holding `key` on its third line."""
    return f"# {comment}\nregion = eu-west-1\naws_access_key_id = {key}\n"


def findings_of(report: Report, key: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["key_id"] == key]


def finding(report: Report, key: str) -> dict[str, Any]:
    """The one finding for `key` (fails when there is none or several)."""
    found = findings_of(report, key)
    assert len(found) == 1, f"expected one finding for {key}, got {len(found)}"
    return found[0]


def where(report: Report, key: str) -> list[tuple[Any, ...]]:
    """(repo, source, path, commit, line, column) of each location of `key`, sorted."""
    return sorted(
        (loc.get("repo"), loc["source"], loc["path"], loc.get("commit"), loc["line"],
         loc["column"])
        for loc in finding(report, key)["locations"]
    )  # fmt: skip


def repos_of(report: Report, key: str) -> set[str]:
    return {loc["repo"] for loc in finding(report, key)["locations"]}


def repositories(report: Report) -> dict[str, Any]:
    """The report's repository summary, its failures sorted."""
    summary = dict(report["repositories"])
    summary["failed"] = sorted(summary["failed"], key=lambda r: r["name"])
    return summary


def scan_rows(db: Path) -> list[tuple[Any, ...]]:
    """repo_scans as (run_id, name, status, blobs, bytes, skipped_blobs, seconds, finished),
    read through a read-only connection (as a monitor would, while the run goes on)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(
            "SELECT s.run_id, r.name, s.status, s.blobs, s.bytes, s.skipped_blobs, s.seconds, "
            "s.finished FROM repo_scans s JOIN repos r ON r.id = s.repo_id "
            "ORDER BY s.run_id, r.name"
        ).fetchall()


def progress(db: Path) -> list[tuple[Any, ...]]:
    """scan_rows while the run may still be creating the datastore."""
    try:
        return scan_rows(db) if db.exists() else []
    except sqlite3.OperationalError:  # created, but its tables not yet
        return []


def datastore_bytes(db: Path) -> bytes:
    """Everything the datastore wrote: the database and its journal files."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def commit_file(repo: GitRepo, name: str, text: str, **kw: Any) -> str:
    repo.write(name, text)
    return repo.commit(f"add {name}", **kw)


# --- the organization ----------------------------------------------------------------------


class Org:
    """A folder of repositories of every kind, and what keyscan should find in it."""

    def __init__(self, base: Path) -> None:
        self.root = base / "acme"
        upstream = base / "upstream"  # sources of the bare and mirror clones, outside the org
        self.shared = keys.key_id()  # in alpha, beta and gamma
        self.alpha_key, self.alpha_secret = keys.key_id(), keys.secret_key()
        self.worktree_key = keys.key_id()  # alpha's work tree only, never committed
        self.beta_key = keys.key_id()
        self.gamma_key = keys.key_id()  # on a branch of the bare clone
        self.delta_key = keys.key_id()  # on a branch of the mirror, and behind a tag
        self.inner_key = keys.key_id()  # a repository nested in folders that are not one
        self.stray_key = keys.key_id()  # a plain file in a folder that is not a repository

        # team-a/alpha: a work tree; a committed key pair, the shared key, an untracked file.
        self.alpha = GitRepo.init(self.root / "team-a" / "alpha")
        self.alpha.write("README.md", "# alpha\n")
        self.alpha.commit("initial")
        self.alpha_shared = commit_file(self.alpha, "config/prod.env", env_text(self.shared),
                                        author=ALICE)  # fmt: skip
        pair = f"[default]\naws_access_key_id = {self.alpha_key}\n" \
               f"aws_secret_access_key = {self.alpha_secret}\n"  # fmt: skip
        self.alpha_pair = commit_file(self.alpha, "deploy/credentials", pair, author=BOB)
        self.alpha.write("local.env", f"key = {self.worktree_key}\n")

        # team-b/nested/deeper/beta: a work tree deep in folders.
        self.beta = GitRepo.init(self.root / "team-b" / "nested" / "deeper" / "beta")
        self.beta_shared = commit_file(self.beta, "settings.py", f'KEY = "{self.shared}"\n',
                                       author=BOB)  # fmt: skip
        self.beta_own = commit_file(self.beta, "app/beta.env", env_text(self.beta_key))

        # bare/gamma.git: a bare clone; the shared key on main, its own key on a branch.
        gamma_src = GitRepo.init(upstream / "gamma")
        self.gamma_shared = commit_file(gamma_src, "ops/keys.txt", f"{self.shared}\n")
        gamma_src.branch("release")
        gamma_src.checkout("release")
        self.gamma_own = commit_file(gamma_src, "ops/release.env", env_text(self.gamma_key))
        gamma_src.checkout("main")
        for folder in ("bare", "mirrors", "broken"):
            (self.root / folder).mkdir(parents=True)
        GitRepo.clone(gamma_src, self.root / "bare" / "gamma.git", "--bare")

        # mirrors/delta.git: a mirror clone; its key only on a branch that is not checked out.
        delta_src = GitRepo.init(upstream / "delta")
        delta_src.write("README.md", "# delta\n")
        delta_src.commit("initial")
        delta_src.branch("feature")
        delta_src.checkout("feature")
        self.delta_own = commit_file(delta_src, "lib/conf.ini", env_text(self.delta_key))
        delta_src.tag("v1")
        delta_src.checkout("main")
        GitRepo.clone(delta_src, self.root / "mirrors" / "delta.git", "--mirror")

        # broken/corrupt.git: a bare repository whose HEAD is garbage.
        corrupt = GitRepo.clone(gamma_src, self.root / "broken" / "corrupt.git", "--bare")
        (corrupt.path / "HEAD").write_text("this is not a ref\n")

        # empty: `git init`, nothing committed.
        GitRepo.init(self.root / "empty")

        # not-a-repo: plain folders, with a repository nested deep inside.
        stray = self.root / "not-a-repo" / "notes"
        stray.mkdir(parents=True)
        (stray / "todo.txt").write_text(env_text(self.stray_key))
        self.inner = GitRepo.init(self.root / "not-a-repo" / "deep" / "inner")
        self.inner_own = commit_file(self.inner, "inner.env", env_text(self.inner_key))

    def name(self, *parts: str) -> str:
        """A repository's name in reports: its absolute path."""
        return str(self.root.joinpath(*parts))

    @property
    def scanned(self) -> set[str]:
        return {self.name("team-a", "alpha"), self.name("team-b", "nested", "deeper", "beta"),
                self.name("bare", "gamma.git"), self.name("mirrors", "delta.git"),
                self.name("empty"), self.name("not-a-repo", "deep", "inner")}  # fmt: skip

    @property
    def corrupt(self) -> str:
        return self.name("broken", "corrupt.git")


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("org-home")
    with isolated_git(home):
        yield home


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory, module_home: Path) -> Org:
    return Org(tmp_path_factory.mktemp("org"))


@pytest.fixture(scope="module")
def local_run(
    org: Org, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The organization scanned once on this machine: the run, and its datastore."""
    db = tmp_path_factory.mktemp("local-run") / "acme.db"
    return org_scan(str(org.root), "-j", "2", db=db), db


# --- a folder of repositories --------------------------------------------------------------


class TestFolderOfRepositories:
    def test_run_goes_on_past_a_corrupt_repository(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """A corrupt repository is warned about and skipped; the run exits 0 and counts it."""
        run, _ = local_run
        assert run.returncode == 0, run.stderr
        warnings = [line for line in run.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1, run.stderr
        assert org.corrupt in warnings[0] and "skipped" in warnings[0]
        assert run.stderr.splitlines()[-1].startswith(
            "keyscan: 6 repositories scanned, 1 failed, into "
        ), run.stderr

    def test_same_key_in_three_repositories_is_one_finding_located_in_each(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """The shared key is one finding, with its path and commit in each repository."""
        report = report_json(local_run[1])
        assert where(report, org.shared) == sorted([
            (org.name("bare", "gamma.git"), "git", "ops/keys.txt", org.gamma_shared, 1, 1),
            (org.name("team-a", "alpha"), "git", "config/prod.env", org.alpha_shared, 3, 21),
            (org.name("team-b", "nested", "deeper", "beta"), "git", "settings.py",
             org.beta_shared, 1, 8),
        ])  # fmt: skip

    def test_authors_and_dates_are_each_repositorys_own(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """Each location keeps the author and date of the commit in its own repository."""
        report = report_json(local_run[1])
        by_repo = {loc["repo"]: loc for loc in finding(report, org.shared)["locations"]}
        alpha = by_repo[org.name("team-a", "alpha")]
        beta = by_repo[org.name("team-b", "nested", "deeper", "beta")]
        assert (alpha["author"], alpha["email"], alpha["date"]) == (
            *ALICE, org.alpha.dates[org.alpha_shared])  # fmt: skip
        assert (beta["author"], beta["email"], beta["date"]) == (
            *BOB, org.beta.dates[org.beta_shared])  # fmt: skip

    def test_different_keys_are_separate_findings_each_in_its_own_repository(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """Keys of one repository each are reported once, at their path and commit there,
        including those only on a bare clone's branch and a mirror's branch."""
        report = report_json(local_run[1])
        assert where(report, org.alpha_key) == [
            (org.name("team-a", "alpha"), "git", "deploy/credentials", org.alpha_pair, 2, 21)
        ]
        assert where(report, org.beta_key) == [
            (org.name("team-b", "nested", "deeper", "beta"), "git", "app/beta.env",
             org.beta_own, 3, 21)
        ]  # fmt: skip
        assert where(report, org.gamma_key) == [
            (org.name("bare", "gamma.git"), "git", "ops/release.env", org.gamma_own, 3, 21)
        ]
        assert where(report, org.delta_key) == [
            (org.name("mirrors", "delta.git"), "git", "lib/conf.ini", org.delta_own, 3, 21)
        ]
        assert where(report, org.inner_key) == [
            (org.name("not-a-repo", "deep", "inner"), "git", "inner.env", org.inner_own, 3, 21)
        ]

    def test_work_tree_files_are_scanned_with_their_repository(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """An untracked file of a work tree is found, as a file of that repository."""
        report = report_json(local_run[1])
        alpha = org.name("team-a", "alpha")
        assert where(report, org.worktree_key) == [
            (alpha, "file", os.path.join(alpha, "local.env"), None, 1, 7)
        ]

    def test_plain_folders_are_searched_but_not_scanned(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """A folder that is not a repository is neither scanned nor counted as failed; the
        repository nested inside it is found."""
        report = report_json(local_run[1])
        assert not findings_of(report, org.stray_key)
        names = {loc["repo"] for f in report["findings"] for loc in f["locations"]}
        assert names <= org.scanned
        assert org.name("not-a-repo", "deep", "inner") in names

    def test_every_location_names_its_repository(
        self, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """Every location of every finding carries `repo`."""
        report = report_json(local_run[1])
        assert report["findings"]
        assert all("repo" in loc for f in report["findings"] for loc in f["locations"])

    def test_json_summary_counts_repositories_and_lists_the_failed_one(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """JSON `repositories`: six scanned (the empty one too), the corrupt one failed with
        an error naming it."""
        summary = report_json(local_run[1])["repositories"]
        assert summary["scanned"] == len(org.scanned) == 6
        assert [r["name"] for r in summary["failed"]] == [org.corrupt]
        assert org.corrupt in summary["failed"][0]["error"]
        assert summary["bytes"] > 0

    def test_text_report_ends_with_the_repository_counts_and_failures(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """The text report ends with "6 repositories scanned, 1 failed" and the failure."""
        result = run_cli("report", "--db", str(local_run[1]))
        assert result.exit_code == 1  # findings
        lines = result.stdout.rstrip("\n").splitlines()
        assert lines[-2] == "6 repositories scanned, 1 failed"
        assert lines[-1].startswith(f"  failed: {org.corrupt}: ")
        assert "7 findings" in result.stdout  # shared, pair, worktree, beta, gamma, delta, inner

    def test_report_exit_codes_follow_fail_on(
        self, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """`report` exits 1 on findings, 0 with --fail-on none or above their severity."""
        db = str(local_run[1])
        assert run_cli("report", "--db", db).exit_code == 1
        assert run_cli("report", "--db", db, "--fail-on", "none").exit_code == 0
        assert run_cli("report", "--db", db, "--fail-on", "critical").exit_code == 1  # the pair
        result = run_cli("report", "--db", db, "-f", "json", "--fail-on", "high")
        assert result.exit_code == 1

    def test_datastore_holds_no_secret_and_reports_redact_as_a_scan_does(
        self, org: Org, local_run: tuple[subprocess.CompletedProcess[str], Path]
    ) -> None:
        """The secret is nowhere in the datastore nor in any report format; its redacted form
        and fingerprint are those of a normal scan of the same repository."""
        db = local_run[1]
        assert org.alpha_secret.encode() not in datastore_bytes(db)
        for fmt in ("text", "json", "jsonl", "sarif", "csv"):
            result = run_cli("report", "--db", str(db), "-f", fmt, "--fail-on", "none")
            assert result.exit_code == 0, (fmt, result.output)
            assert org.alpha_secret not in result.output, fmt
        org_pair = finding(report_json(db), org.alpha_key)
        scan = run_cli("scan", "-f", "json", "--fail-on", "none", str(org.alpha.path))
        scan_pair = finding(json.loads(scan.stdout), org.alpha_key)
        assert org_pair["rule"] == scan_pair["rule"] == "aws.access-key-pair"
        assert (org_pair["id"], org_pair["secret"]) == (scan_pair["id"], scan_pair["secret"])
        assert org_pair["secret"].startswith(org.alpha_secret[:4])


# --- exit codes and errors -----------------------------------------------------------------


class TestErrors:
    def test_every_repository_failed_exits_2(self, tmp_path: Path) -> None:
        """When no repository could be scanned, the run exits 2 and says which failed."""
        bad = GitRepo.init(tmp_path / "org" / "bad.git", bare=True)
        (bad.path / "HEAD").write_text("garbage\n")
        listed = tmp_path / "repos.txt"
        (tmp_path / "plain").mkdir()
        listed.write_text("# not repositories\n\nplain\n")
        run = org_scan(str(tmp_path / "org"), str(listed), db=tmp_path / "k.db")
        assert run.returncode == 2, run.stderr
        assert str(bad.path) in run.stderr and str(tmp_path / "plain") in run.stderr
        assert "0 repositories scanned, 2 failed" in run.stderr
        summary = report_json(tmp_path / "k.db")["repositories"]
        assert summary["scanned"] == 0
        assert {r["name"] for r in summary["failed"]} == {str(bad.path), str(tmp_path / "plain")}
        assert all("not a git repository" in r["error"] for r in summary["failed"])

    def test_listed_path_that_is_not_a_repository_fails_alone(self, tmp_path: Path) -> None:
        """A listed path that is not a repository is a failure; the other one is scanned."""
        key = keys.key_id()
        good = GitRepo.init(tmp_path / "good")
        commit_file(good, "a.env", env_text(key))
        (tmp_path / "missing-repo").mkdir()
        listed = tmp_path / "repos.txt"
        listed.write_text("good\n# a comment\nmissing-repo\n")
        run = org_scan(str(listed), db=tmp_path / "k.db")
        assert run.returncode == 0, run.stderr
        report = report_json(tmp_path / "k.db")
        assert repos_of(report, key) == {str(good.path)}
        assert report["repositories"]["scanned"] == 1
        assert [r["name"] for r in report["repositories"]["failed"]] == [
            str(tmp_path / "missing-repo")
        ]

    def test_inline_allow_in_a_scanned_repository_holds_nothing_back(self, tmp_path: Path) -> None:
        """An organization scan audits: a key its repository marks `keyscan:allow` is still
        reported (once, it was dropped without a trace)."""
        key = keys.key_id()
        repo = GitRepo.init(tmp_path / "org" / "svc")
        commit_file(repo, "a.env", f"aws_access_key_id = {key}  # keyscan:allow\n")
        run = org_scan(str(tmp_path / "org"), db=tmp_path / "k.db")
        assert run.returncode == 0, run.stderr
        assert repos_of(report_json(tmp_path / "k.db"), key) == {str(repo.path)}

    def test_missing_source_exits_2(self, tmp_path: Path) -> None:
        """A source that is neither folder, file nor URL is an error (2) that names it."""
        run = org_scan(str(tmp_path / "nowhere"), db=tmp_path / "k.db")
        assert run.returncode == 2
        assert str(tmp_path / "nowhere") in run.stderr

    def test_folder_without_repositories_is_warned_about(self, tmp_path: Path) -> None:
        """A folder holding no repository gets a warning, not silence."""
        (tmp_path / "empty-org" / "docs").mkdir(parents=True)
        run = org_scan(str(tmp_path / "empty-org"), db=tmp_path / "k.db")
        assert run.returncode != 1
        assert "holds no git repository" in run.stderr

    def test_resume_with_nothing_to_resume_exits_2(self, tmp_path: Path) -> None:
        """--resume on a new datastore, or on one whose last run finished, exits 2."""
        repo = GitRepo.init(tmp_path / "org" / "r")
        commit_file(repo, "a.txt", "nothing\n")
        db = tmp_path / "k.db"
        run = org_scan(str(tmp_path / "org"), "--resume", db=db)
        assert run.returncode == 2
        assert "no interrupted run to resume" in run.stderr
        assert org_scan(str(tmp_path / "org"), db=db).returncode == 0
        run = org_scan(str(tmp_path / "org"), "--resume", db=db)
        assert run.returncode == 2
        assert "no interrupted run to resume" in run.stderr

    def test_report_of_a_file_that_is_not_a_datastore_exits_2(self, tmp_path: Path) -> None:
        """`report --db` on a file that is not a datastore is an error (2), not a finding."""
        db = tmp_path / "not.db"
        db.write_text("hello\n" * 100)
        result = run_cli("report", "--db", str(db))
        assert result.exit_code == 2
        assert str(db) in result.stderr


# --- an interrupted run --------------------------------------------------------------------


class TestInterruptedRun:
    COUNT = 20
    BLOCKED = 10  # the repository the first run is killed in (names sort by index)

    def test_killed_run_resumes_without_rescanning_losing_or_duplicating(
        self, tmp_path: Path
    ) -> None:
        """Killed (SIGKILL) with ten repositories done, the run resumes with the other ten:
        the finished ones are not scanned again, and every finding is reported once."""
        root = tmp_path / "org"
        shared, own, repos = keys.key_id(), [], []
        for i in range(self.COUNT):
            repo = GitRepo.init(root / f"repo-{i:02d}.git", bare=True)
            (tmp_path / "work").mkdir(exist_ok=True)
            work = GitRepo.clone(repo, tmp_path / "work" / f"{i:02d}")
            own.append(keys.key_id())
            work.write("shared.env", env_text(shared))
            work.write("own.env", env_text(own[-1]))
            work.commit()
            work.git("push", "-q", "origin", "HEAD:main")
            repos.append(repo)
        # A repository whose HEAD is a FIFO: git blocks opening it, so the one worker (-j 1)
        # is held there with exactly the ten repositories before it done: no race, no timing.
        blocked = repos[self.BLOCKED]
        head = (blocked.path / "HEAD").read_text()
        (blocked.path / "HEAD").unlink()
        os.mkfifo(blocked.path / "HEAD")
        db = tmp_path / "k.db"
        command = [sys.executable, "-m", "keyscan", "org", "scan", str(root), "-j", "1",
                   "--db", str(db), "--clone-dir", str(tmp_path / "clones")]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            rows: list[tuple[Any, ...]] = []
            while len(rows) < self.BLOCKED:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, f"only {len(rows)} repositories done"
                time.sleep(0.05)
                rows = progress(db)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            with_group_killed(proc)
        assert proc.returncode == -signal.SIGKILL
        before = scan_rows(db)
        assert [r[1] for r in before] == [str(r.path) for r in repos[: self.BLOCKED]]
        assert {(r[0], r[2]) for r in before} == {(1, "done")}

        # Mend the blocked repository, and add a key to a finished one: a rescan would find it.
        (blocked.path / "HEAD").unlink()
        (blocked.path / "HEAD").write_text(head)
        late_key = keys.key_id()
        work = GitRepo(tmp_path / "work" / "00")
        work.write("late.env", env_text(late_key))
        work.commit()
        work.git("push", "-q", "origin", "HEAD:main")

        other = org_scan(str(root), "--resume", "--no-decode", db=db)
        assert other.returncode == 2  # other options: the interrupted run cannot go on so
        assert "other rules or options" in other.stderr
        assert scan_rows(db) == before
        run = org_scan(str(root), "-j", "1", "--resume", db=db, clone_dir=tmp_path / "clones")
        assert run.returncode == 0, run.stderr
        assert "10 repositories scanned, 0 failed, 10 done before the interruption" in (run.stderr)
        after = scan_rows(db)
        assert after[: self.BLOCKED] == before  # the same rows: not rescanned, not rewritten
        assert [r[1] for r in after] == [str(r.path) for r in repos]
        assert {(r[0], r[2]) for r in after} == {(1, "done")}  # one run, resumed

        report = report_json(db)
        assert report["repositories"] == {"scanned": self.COUNT, "failed": [], "bytes": sum(
            r[4] for r in after)}  # fmt: skip
        assert not findings_of(report, late_key)  # repo-00 was finished: not scanned again
        assert sorted(loc["repo"] for loc in finding(report, shared)["locations"]) == [
            str(r.path) for r in repos
        ]
        for key, repo in zip(own, repos, strict=True):
            assert [loc["repo"] for loc in finding(report, key)["locations"]] == [str(repo.path)]
        assert len(report["findings"]) == self.COUNT + 1

        # Nothing left to resume; a new run scans everything again, and finds the late key.
        assert org_scan(str(root), "--resume", db=db).returncode == 2
        assert org_scan(str(root), "-j", "2", db=db).returncode == 0
        assert repos_of(report_json(db), late_key) == {str(repos[0].path)}


def with_group_killed(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a killed run: its pool workers and the git they wait on."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stderr is not None:
        proc.stderr.close()


# --- clone URLs ----------------------------------------------------------------------------


class TestCloneUrls:
    def test_urls_are_mirrored_then_fetched_on_the_next_run(self, tmp_path: Path) -> None:
        """file:// URLs (listed and on the command line) are mirrored into --clone-dir, one
        mirror each; the next run fetches them, and a key committed since is found."""
        one, two = GitRepo.init(tmp_path / "up" / "one"), GitRepo.init(tmp_path / "up" / "two")
        key_one, key_two, later = keys.key_id(), keys.key_id(), keys.key_id()
        c_one = commit_file(one, "one.env", env_text(key_one))
        c_two = commit_file(two, "two.env", env_text(key_two))
        url_one, url_two = f"file://{one.path}", f"file://{two.path}"
        listed = tmp_path / "repos.txt"
        listed.write_text(f"# from gh repo list\n\n{url_one}\n")
        clones = tmp_path / "clones"
        db = tmp_path / "k.db"

        run = org_scan(str(listed), url_two, db=db, clone_dir=clones)
        assert run.returncode == 0, run.stderr
        report = report_json(db)
        assert where(report, key_one) == [(url_one, "git", "one.env", c_one, 3, 21)]
        assert where(report, key_two) == [(url_two, "git", "two.env", c_two, 3, 21)]
        mirrors = sorted(clones.iterdir())
        assert len(mirrors) == 2
        for path in mirrors:
            assert run_git(path, "config", "--get", "remote.origin.mirror") == "true"
            assert run_git(path, "rev-parse", "--is-bare-repository") == "true"
            (path / "keyscan-test-marker").write_text("still the same clone\n")

        c_later = commit_file(one, "later.env", env_text(later))
        run = org_scan(str(listed), url_two, db=db, clone_dir=clones)
        assert run.returncode == 0, run.stderr
        assert sorted(clones.iterdir()) == mirrors  # fetched, not cloned again
        assert all((path / "keyscan-test-marker").exists() for path in mirrors)
        report = report_json(db)
        assert where(report, later) == [(url_one, "git", "later.env", c_later, 3, 21)]
        assert where(report, key_one) == [(url_one, "git", "one.env", c_one, 3, 21)]
        assert report["repositories"]["scanned"] == 2

    def test_url_credentials_never_reach_the_output(self, tmp_path: Path) -> None:
        """A user:password in a URL is in no message and no report; the repository is named
        by its URL without them, and an unreachable one fails with a useful error."""
        password = "pw-" + keys.secret_key()[:12].replace("/", "x").replace("+", "y")
        up = GitRepo.init(tmp_path / "up")
        key = keys.key_id()
        commit_file(up, "a.env", env_text(key))
        listed = tmp_path / "repos.txt"
        listed.write_text(f"file://bob:{password}@localhost{up.path}\n")
        dead = f"http://bob:{password}@127.0.0.1:1/org/dead.git"
        db = tmp_path / "k.db"
        run = org_scan(str(listed), dead, db=db)
        assert run.returncode == 0, run.stderr
        assert password not in run.stdout + run.stderr
        assert "http://127.0.0.1:1/org/dead.git" in run.stderr
        for fmt in ("text", "json", "jsonl", "sarif", "csv"):
            result = run_cli("report", "--db", str(db), "-f", fmt, "--fail-on", "none")
            assert password not in result.output, fmt
        report = report_json(db)
        assert repos_of(report, key) == {f"file://localhost{up.path}"}
        [failed] = report["repositories"]["failed"]
        assert failed["name"] == "http://127.0.0.1:1/org/dead.git"
        assert "cannot clone or fetch http://127.0.0.1:1/org/dead.git" in failed["error"]
        assert all(password not in p.name for p in (tmp_path / "clones").iterdir())


# --- on a Dask cluster ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_scheduler(module_home: Path) -> Iterator[str]:
    """A LocalCluster of two worker processes (spawned: hence a fixture, not `python -`)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


class TestDask:
    def test_dask_run_gives_the_same_report_as_the_local_run(
        self,
        org: Org,
        local_run: tuple[subprocess.CompletedProcess[str], Path],
        dask_scheduler: str,
        tmp_path: Path,
    ) -> None:
        """`--dask-scheduler`: the same findings, locations and repositories as locally."""
        db = tmp_path / "dask.db"
        run = org_scan(str(org.root), "--dask-scheduler", dask_scheduler, db=db)
        assert run.returncode == 0, run.stderr
        assert org.corrupt in run.stderr
        local, dask = report_json(local_run[1]), report_json(db)
        assert comparable(dask) == comparable(local)
        assert repositories(dask) == repositories(local)


class TestIncremental:
    def test_unchanged_organization_skips_blobs_and_a_new_commit_is_scanned(
        self, tmp_path: Path
    ) -> None:
        """Run 2 over an unchanged organization skips the blobs run 1 scanned (same
        findings); after a new commit, run 3 scans its blob and finds its key."""
        root = tmp_path / "org"
        repos, own = [], []
        shared = keys.key_id()
        for name in ("a", "b", "c"):
            repo = GitRepo.init(root / name)
            own.append(keys.key_id())
            repo.write("README.md", f"# {name}\n" + "lorem ipsum dolor sit amet\n" * 50)
            commit_file(repo, "shared.env", env_text(shared))
            commit_file(repo, "own.env", env_text(own[-1]))
            repos.append(repo)
        db = tmp_path / "k.db"

        first = org_scan(str(root), "-j", "2", "--no-worktree", db=db)
        assert first.returncode == 0, first.stderr
        report_1 = report_json(db)
        runs_1 = [r for r in scan_rows(db) if r[0] == 1]
        assert all(r[3] > 0 and r[5] == 0 for r in runs_1)  # blobs scanned, none skipped

        second = org_scan(str(root), "-j", "2", "--no-worktree", db=db)
        assert second.returncode == 0, second.stderr
        runs_2 = [r for r in scan_rows(db) if r[0] == 2]
        assert len(runs_2) == 3
        # Blobs that held findings may be scanned again (their locations are needed); every
        # repository has clean blobs (README, trees, commits) that must be skipped.
        assert all(r[5] > 0 for r in runs_2), runs_2
        assert sum(r[5] for r in runs_2) > 0
        # The last line says how many were not read again (its wording is the CLI's own).
        assert f" {sum(r[5] for r in runs_2)} " in second.stderr.splitlines()[-1], second.stderr
        assert comparable(report_json(db)) == comparable(report_1)

        later = keys.key_id()
        added = commit_file(repos[1], "later.env", env_text(later))
        third = org_scan(str(root), "-j", "2", "--no-worktree", db=db)
        assert third.returncode == 0, third.stderr
        report_3 = report_json(db)
        assert where(report_3, later) == [(str(repos[1].path), "git", "later.env", added, 3, 21)]
        for key, repo in zip(own, repos, strict=True):
            assert [loc["repo"] for loc in where_locations(report_3, key)] == [str(repo.path)]
        runs_3 = {r[1]: r for r in scan_rows(db) if r[0] == 3}
        assert runs_3[str(repos[1].path)][3] >= 1  # at least the new blob was read
        assert runs_3[str(repos[0].path)][5] > 0


def where_locations(report: dict, key: str) -> list[dict]:  # type: ignore[type-arg]
    [finding] = [f for f in report["findings"] if f["key_id"] == key]
    return list(finding["locations"])


class TestBrokenAndSecret:
    def test_url_credentials_are_not_stored_in_the_datastore(self, tmp_path: Path) -> None:
        """A clone URL's user:password never reaches the datastore (repos.url once held the
        raw URL), though names and messages strip it."""
        password = "hunter2-" + keys.key_id()[4:12].lower()
        up = GitRepo.init(tmp_path / "up")
        commit_file(up, "a.env", env_text(keys.key_id()))
        listed = tmp_path / "repos.txt"
        listed.write_text(f"file://bob:{password}@localhost{up.path}\n")
        db = tmp_path / "k.db"
        run = org_scan(str(listed), f"http://bob:{password}@127.0.0.1:1/x.git", db=db)
        assert run.returncode == 0, run.stderr
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            urls = [u for (u,) in conn.execute("SELECT url FROM repos")]
        assert all(password not in (u or "") for u in urls), urls
        assert password.encode() not in datastore_bytes(db)

    def test_repository_with_its_objects_gone_is_a_failure_not_clean(self, tmp_path: Path) -> None:
        """A repository whose refs point to objects that are not there (objects/ emptied, as
        a half-copied mirror) is a failure, not a clean repository of 0 blobs."""
        src = GitRepo.init(tmp_path / "src")
        commit_file(src, "a.env", env_text(keys.key_id()))
        (tmp_path / "org").mkdir()
        broken = GitRepo.clone(src, tmp_path / "org" / "broken.git", "--bare")
        shutil.rmtree(broken.path / "objects")
        (broken.path / "objects").mkdir()
        db = tmp_path / "k.db"
        run = org_scan(str(tmp_path / "org"), db=db)
        failed = report_json(db)["repositories"]["failed"]
        assert [r["name"] for r in failed] == [str(broken.path)], run.stderr
        assert run.returncode == 2  # the only repository failed

    def test_repository_with_a_truncated_pack_is_a_failure_not_clean(self, tmp_path: Path) -> None:
        """A truncated pack makes every object "missing" to cat-file; keyscan once
        dropped them silently and reported the repository clean; now it is a failure."""
        src = GitRepo.init(tmp_path / "src")
        commit_file(src, "a.env", env_text(keys.key_id()))
        (tmp_path / "org").mkdir()
        broken = GitRepo.clone(src, tmp_path / "org" / "packed.git", "--bare")
        broken.git("repack", "-adq")
        [pack] = (broken.path / "objects" / "pack").glob("*.pack")
        with pack.open("r+b") as f:
            f.truncate(40)
        db = tmp_path / "k.db"
        run = org_scan(str(tmp_path / "org"), db=db)
        failed = report_json(db)["repositories"]["failed"]
        assert [r["name"] for r in failed] == [str(broken.path)], run.stderr
