"""Git history: every object in a repository is scanned, and each finding says where it lives.

Repositories are built with the git command line (tests/gitrepo.py); keys are generated at run
time (tests/keys.py). Expected paths, commits, authors and dates come from the repository as
built, never from keyscan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keys
import pytest
from conftest import Report, comparable, key_ids, run_cli, scan_json
from gitrepo import EMAIL, NAME, GitRepo

import keyscan.history
from keyscan.rules import load_rules
from keyscan.scan import ScanOptions, scan_paths

ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Example", "bob@example.com")


# --- helpers -------------------------------------------------------------------------------


def env_text(key: str, comment: str = "settings") -> str:
    """A small credentials file holding `key` on its third line."""
    return f"# {comment}\nregion = eu-west-1\naws_access_key_id = {key}\n"


def where(text: str, key: str) -> tuple[int, int]:
    """1-based line and column of `key` in `text` (ASCII)."""
    offset = text.index(key)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def finding(report: Report, key: str) -> dict[str, Any]:
    """The one finding for `key` (fails when there is none or several)."""
    found = [f for f in report["findings"] if f["key_id"] == key]
    assert len(found) == 1, f"expected one finding for {key}, got {len(found)}: {report}"
    return found[0]


def locations(report: Report, key: str) -> list[dict[str, Any]]:
    return list(finding(report, key)["locations"])


def blob_location(
    repo: GitRepo, path: str | None, commit: str | None, text: str, key: str, *,
    author: tuple[str, str] | None = (NAME, EMAIL), reachable: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """The JSON location keyscan should give for `key` in a blob introduced by `commit`."""
    line, column = where(text, key)
    return {
        "source": "git",
        "path": path,
        "line": line,
        "column": column,
        "decoded": [],
        "kind": "blob",
        "commit": commit,
        "author": author[0] if commit and author else None,
        "email": author[1] if commit and author else None,
        "date": repo.dates[commit] if commit else None,
        "reachable": reachable,
    }


def file_location(path: Path, text: str, key: str) -> dict[str, Any]:
    line, column = where(text, key)
    return {"source": "file", "path": str(path), "line": line, "column": column, "decoded": []}


def history_view(report: Report) -> set[tuple[Any, ...]]:
    """(key, kind, path, commit, line, column, author, date) of every git location."""
    return {
        (f["key_id"], loc["kind"], loc["path"], loc["commit"], loc["line"], loc["column"],
         loc["author"], loc["date"])
        for f in report["findings"]
        for loc in f["locations"]
        if loc["source"] == "git"
    }  # fmt: skip


# --- deleted files ---------------------------------------------------------------------------


class TestDeletedFiles:
    def test_key_committed_then_deleted_is_found_at_its_introducing_commit(
        self, repo: GitRepo
    ) -> None:
        """A key committed and deleted in the next commit is reported at its path and commit."""
        key = keys.key_id()
        text = env_text(key)
        repo.write("config/prod.env", text)
        added = repo.commit("add settings", author=ALICE)
        repo.remove("config/prod.env")
        repo.commit("remove settings")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "config/prod.env", added, text, key, author=ALICE)
        ]

    def test_key_removed_by_an_edit_is_found_in_the_old_version(self, repo: GitRepo) -> None:
        """A key that an edit took out of a file is still found in the version that had it."""
        key = keys.key_id()
        text = "first = 1\n" + env_text(key)
        repo.write("app.cfg", text)
        added = repo.commit("add key", author=BOB)
        repo.write("app.cfg", "first = 1\n")
        repo.commit("take the key out")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "app.cfg", added, text, key, author=BOB)
        ]

    def test_repository_without_keys_is_clean(self, repo: GitRepo) -> None:
        """A repository whose history holds no key exits 0 with no findings."""
        repo.write("src/main.py", "print('hello')\n")
        repo.commit("code")
        code, report, _ = scan_json(str(repo.path))
        assert (code, report["findings"]) == (0, [])


# --- branches and tags ------------------------------------------------------------------------


class TestBranchesAndTags:
    def test_merged_branch_key_deleted_after_merge(self, repo: GitRepo) -> None:
        """A key added on a merged branch, then deleted, is reported once at the branch commit."""
        key = keys.key_id()
        text = env_text(key)
        repo.checkout("feature", "-b")
        repo.write("feature.env", text)
        added = repo.commit("feature with key", author=ALICE)
        repo.checkout("main")
        repo.write("other.txt", "main moved on\n")
        repo.commit("main work")
        repo.merge("feature", "--no-ff", "-m", "merge feature")
        repo.remove("feature.env")
        repo.commit("remove key")
        repo.git("branch", "-D", "feature")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "feature.env", added, text, key, author=ALICE)
        ]

    @staticmethod
    def deleted_branch(repo: GitRepo) -> tuple[str, str, str]:
        """Commit a key on a branch `spike`, then delete the branch: key, text, commit."""
        key = keys.key_id()
        text = env_text(key)
        repo.checkout("spike", "-b")
        repo.write("spike.env", text)
        added = repo.commit("spike", author=ALICE)
        repo.checkout("main")
        repo.git("branch", "-D", "spike")
        return key, text, added

    def test_deleted_branch_kept_by_reflog_is_reachable(self, repo: GitRepo) -> None:
        """A commit on a deleted branch that HEAD's reflog still names counts as reachable."""
        key, text, added = self.deleted_branch(repo)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "spike.env", added, text, key, author=ALICE, reachable=True)
        ]

    def test_deleted_branch_after_reflog_expiry_is_unreachable(self, repo: GitRepo) -> None:
        """Once reflogs are expired, a deleted branch's commit is dangling: reachable false."""
        key, text, added = self.deleted_branch(repo)
        repo.expire_reflogs()
        assert repo.git("rev-list", "--all", "--reflog").split().count(added) == 0
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "spike.env", added, text, key, author=ALICE, reachable=False)
        ]

    def test_commit_reachable_only_from_a_tag(self, repo: GitRepo) -> None:
        """A key in a commit that only a lightweight tag reaches is found, reachable."""
        key = keys.key_id()
        text = env_text(key)
        repo.checkout("HEAD", "--detach")
        repo.write("release.env", text)
        tagged = repo.commit("release build", author=BOB)
        repo.tag("v1.0")
        repo.checkout("main")
        repo.expire_reflogs()
        assert repo.git("branch", "--contains", tagged) == ""
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "release.env", tagged, text, key, author=BOB)
        ]

    def test_annotated_tag_message(self, repo: GitRepo) -> None:
        """A key in an annotated tag's message is reported as a tag message with the tagger."""
        key = keys.key_id()
        tag = repo.tag("v2.0", message=f"Release 2.0\n\ndeploy key {key}\n")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        [location] = locations(report, key)
        assert location["kind"] == "tag message"
        assert location["commit"] == tag
        assert location["path"] == "refs/tags/v2.0"
        assert (location["author"], location["email"]) == (NAME, EMAIL)
        assert location["date"] == repo.dates[tag]
        assert location["reachable"] is True


# --- stash ------------------------------------------------------------------------------------


class TestStash:
    def test_stashed_change_to_a_tracked_file(self, repo: GitRepo) -> None:
        """A key in a stashed modification of a tracked file is found in the stash commit."""
        key = keys.key_id()
        repo.write("app.env", "region = eu-west-1\n")
        repo.commit("settings")
        text = env_text(key)
        repo.write("app.env", text)
        stash = repo.stash()
        assert key not in (repo.path / "app.env").read_text()
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [blob_location(repo, "app.env", stash, text, key)]

    def test_stashed_untracked_file(self, repo: GitRepo) -> None:
        """A key in an untracked file stashed with -u is found in the stash's untracked commit."""
        key = keys.key_id()
        text = env_text(key)
        repo.write("scratch.env", text)
        stash = repo.stash("-u")
        assert not (repo.path / "scratch.env").exists()
        untracked = repo.rev(f"{stash}^3")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [blob_location(repo, "scratch.env", untracked, text, key)]


# --- dangling objects -------------------------------------------------------------------------


class TestDanglingObjects:
    def test_blob_written_but_never_committed(self, repo: GitRepo) -> None:
        """A blob written with hash-object and never committed is a dangling blob, no path."""
        key = keys.key_id()
        text = env_text(key)
        repo.hash_object(text.encode())
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, None, None, text, key, reachable=False)
        ]

    def test_blob_replaced_in_the_index_is_dangling(self, repo: GitRepo) -> None:
        """A staged blob replaced by re-adding the file is found as a dangling blob."""
        first, second = keys.key_id(), keys.key_id()
        first_text, second_text = env_text(first), env_text(second)
        repo.write("app.env", first_text)
        repo.add("app.env")
        repo.write("app.env", second_text)
        repo.add("app.env")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, first) == [
            blob_location(repo, None, None, first_text, first, reachable=False)
        ]
        assert locations(report, second), "the staged version is found too"

    def test_commit_dropped_by_reset_and_reflog_expiry(self, repo: GitRepo) -> None:
        """A commit dropped by reset --hard and reflog expiry is found, unreachable, with path."""
        key = keys.key_id()
        text = env_text(key)
        repo.write("oops.env", text)
        dropped = repo.commit("oops", author=ALICE)
        repo.git("reset", "-q", "--hard", "HEAD~1")
        repo.expire_reflogs()
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "oops.env", dropped, text, key, author=ALICE, reachable=False)
        ]

    def test_message_of_a_dropped_commit_is_unreachable(self, repo: GitRepo) -> None:
        """A key in the message of a dangling commit is reported with reachable false."""
        key = keys.key_id()
        repo.write("x.txt", "x\n")
        dropped = repo.commit(f"use {key}", author=ALICE)
        repo.git("reset", "-q", "--hard", "HEAD~1")
        repo.expire_reflogs()
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        [location] = locations(report, key)
        assert (location["kind"], location["commit"], location["reachable"]) == (
            "commit message", dropped, False,
        )  # fmt: skip


# --- loose and packed objects -----------------------------------------------------------------


def rich_history(repo: GitRepo) -> dict[str, str]:
    """Keys in a deleted file, a merged branch, a message, a note, a tag and a dangling blob."""
    k = {name: keys.key_id() for name in ("deleted", "branch", "message", "note", "tag", "blob")}
    repo.write("old.env", env_text(k["deleted"]))
    repo.commit("old settings", author=ALICE)
    repo.remove("old.env")
    repo.commit("drop settings")
    repo.checkout("topic", "-b")
    repo.write("topic.env", env_text(k["branch"]))
    repo.commit("topic", author=BOB)
    repo.checkout("main")
    repo.merge("topic", "--no-ff", "-m", "merge topic")
    repo.write("notes.txt", "n\n")
    repo.commit(f"rotate {k['message']} later")
    repo.note(f"reviewed with {k['note']}")
    repo.tag("v1", message=f"tagged {k['tag']}")
    repo.hash_object(env_text(k["blob"]).encode())
    return k


class TestObjectStorage:
    @pytest.mark.parametrize(
        "pack",
        [
            ["repack", "-a", "-d"],
            ["-c", "gc.reflogExpire=never", "-c", "gc.reflogExpireUnreachable=never",
             "gc", "-q", "--prune=never"],
        ],
        ids=["repack", "gc"],
    )  # fmt: skip
    def test_loose_and_packed_objects_give_the_same_findings(
        self, repo: GitRepo, pack: list[str]
    ) -> None:
        """Packing the objects (repack or gc) changes nothing in the findings."""
        k = rich_history(repo)
        assert not list((repo.git_dir / "objects" / "pack").glob("*.pack"))
        code, loose, _ = scan_json(str(repo.path))
        assert code == 1
        assert key_ids(loose) == set(k.values())
        repo.git(*pack)
        assert list((repo.git_dir / "objects" / "pack").glob("*.pack"))
        code, packed, _ = scan_json(str(repo.path))
        assert code == 1
        assert comparable(packed) == comparable(loose)


# --- messages and notes -----------------------------------------------------------------------


class TestMessagesAndNotes:
    def test_commit_message(self, repo: GitRepo) -> None:
        """A key in a commit message is reported with its commit, author, email and date."""
        key = keys.key_id()
        repo.write("deploy.sh", "echo deploy\n")
        commit = repo.commit(f"Deploy\n\nused {key} for the upload\n", author=ALICE)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        [location] = locations(report, key)
        assert location["source"] == "git"
        assert location["kind"] == "commit message"
        assert location["path"] is None
        assert location["commit"] == commit
        assert (location["author"], location["email"]) == ALICE
        assert location["date"] == repo.dates[commit]
        assert location["reachable"] is True
        assert (location["line"], location["column"]) == (3, 6), "counted within the message"

    def test_git_note(self, repo: GitRepo) -> None:
        """A key in a git note is reported as a note on the annotated commit."""
        key = keys.key_id()
        head = repo.rev("HEAD")
        repo.note(f"ci credentials: {key}")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        [location] = locations(report, key)
        assert location["kind"] == "note"
        assert location["path"] == head
        assert location["reachable"] is True
        assert (location["line"], location["column"]) == where(f"ci credentials: {key}", key)


# --- renames and merges -----------------------------------------------------------------------


class TestRenamesAndMerges:
    def test_renamed_file_is_one_finding_at_a_path(self, repo: GitRepo) -> None:
        """A file moved with git mv is one finding, located at the commit that first added it."""
        key = keys.key_id()
        text = env_text(key)
        repo.write("old/name.env", text)
        added = repo.commit("add", author=ALICE)
        repo.git("mv", "old/name.env", "new-name.env")
        moved = repo.commit("rename", author=BOB)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        found = locations(report, key)
        assert blob_location(repo, "old/name.env", added, text, key, author=ALICE) in found
        assert {(loc["path"], loc["commit"]) for loc in found} <= {
            ("old/name.env", added), ("new-name.env", moved),
        }  # fmt: skip

    def test_evil_merge_reports_the_merge_commit(self, repo: GitRepo) -> None:
        """A key that a merge commit adds (in neither parent) is located at the merge commit."""
        key = keys.key_id()
        repo.checkout("side", "-b")
        repo.write("side.txt", "side\n")
        repo.commit("side work")
        repo.checkout("main")
        repo.write("main.txt", "main\n")
        repo.commit("main work")
        repo.git("merge", "-q", "--no-ff", "--no-commit", "side")
        text = env_text(key, "slipped into the merge")
        repo.write("side.txt", "side\n" + text)
        merge = repo.commit("Merge branch 'side'", author=BOB)
        assert len(repo.git("rev-list", "--parents", "-n1", merge).split()) == 3
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [
            blob_location(repo, "side.txt", merge, "side\n" + text, key, author=BOB)
        ]


# --- one key, many places ---------------------------------------------------------------------


def spread_key(repo: GitRepo, key: str) -> set[tuple[str, str]]:
    """The same key in three files over five commits, each version a different blob."""
    expected = set()
    for n, name in enumerate(["a.env", "b.env", "a.env", "c.env", "b.env"], start=1):
        repo.write(name, env_text(key, f"version {n}"))
        expected.add((name, repo.commit(f"commit {n}")))
    return expected


class TestManyLocations:
    def test_one_key_in_many_commits_and_paths_is_one_finding(self, repo: GitRepo) -> None:
        """The same key in 3 files across 5 commits is one finding with every location."""
        key = keys.key_id()
        expected = spread_key(repo, key)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        found = locations(report, key)
        assert {(loc["path"], loc["commit"]) for loc in found} == expected
        assert len(found) == 5
        assert finding(report, key)["locations_omitted"] == 0

    def test_max_locations_caps_the_list_and_counts_the_rest(self, repo: GitRepo) -> None:
        """--max-locations 2 lists two locations and counts the other three as omitted."""
        key = keys.key_id()
        expected = spread_key(repo, key)
        code, report, _ = scan_json("--max-locations", "2", str(repo.path))
        assert code == 1
        f = finding(report, key)
        assert len(f["locations"]) == 2
        assert {(loc["path"], loc["commit"]) for loc in f["locations"]} <= expected
        assert f["locations_omitted"] == 3

    def test_same_blob_at_two_paths_is_reported_at_both(self, repo: GitRepo) -> None:
        """A file copied unchanged to a second path is reported at both paths."""
        key = keys.key_id()
        text = env_text(key)
        repo.write("app.env", text)
        first = repo.commit("add", author=ALICE)
        repo.write("backup/app.env", text)
        copy = repo.commit("backup", author=BOB)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert sorted(locations(report, key), key=lambda loc: loc["path"]) == [
            blob_location(repo, "app.env", first, text, key, author=ALICE),
            blob_location(repo, "backup/app.env", copy, text, key, author=BOB),
        ]


# --- the work tree ----------------------------------------------------------------------------


class TestWorkTree:
    def test_uncommitted_modification_is_found_as_a_file(self, repo: GitRepo) -> None:
        """A key in an uncommitted change to a tracked file is found with source "file"."""
        key = keys.key_id()
        repo.write("app.env", "region = eu-west-1\n")
        repo.commit("settings")
        text = env_text(key)
        path = repo.write("app.env", text)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [file_location(path, text, key)]

    def test_untracked_file_is_found_as_a_file(self, repo: GitRepo) -> None:
        """A key in an untracked, non-ignored file is found with source "file"."""
        key = keys.key_id()
        text = env_text(key)
        path = repo.write("notes/todo.txt", text)
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [file_location(path, text, key)]

    def test_ignored_file_is_not_scanned(self, repo: GitRepo) -> None:
        """A file that .gitignore ignores is not scanned."""
        repo.write(".gitignore", "*.secret\nbuild/\n")
        repo.commit("ignore")
        repo.write("local.secret", env_text(keys.key_id()))
        repo.write("build/out.txt", env_text(keys.key_id()))
        code, report, _ = scan_json(str(repo.path))
        assert (code, report["findings"]) == (0, [])

    def test_committed_file_is_reported_once_from_history(self, repo: GitRepo) -> None:
        """A committed, unchanged file is reported from history only, not again as a file."""
        key = keys.key_id()
        text = env_text(key)
        repo.write("app.env", text)
        added = repo.commit("add")
        code, report, _ = scan_json(str(repo.path))
        assert code == 1
        assert locations(report, key) == [blob_location(repo, "app.env", added, text, key)]

    def test_no_worktree_skips_uncommitted_and_untracked_files(self, repo: GitRepo) -> None:
        """--no-worktree scans the object database only."""
        repo.write("app.env", "region = eu-west-1\n")
        repo.commit("settings")
        repo.write("app.env", env_text(keys.key_id()))
        repo.write("untracked.env", env_text(keys.key_id()))
        code, report, _ = scan_json("--no-worktree", str(repo.path))
        assert (code, report["findings"]) == (0, [])

    def test_no_history_scans_the_folder_as_plain_files(self, repo: GitRepo) -> None:
        """--no-history finds the files on disk as plain files and nothing from history."""
        old, current, untracked = keys.key_id(), keys.key_id(), keys.key_id()
        repo.write("old.env", env_text(old))
        repo.commit("old")
        repo.remove("old.env")
        repo.commit(f"drop, message mentions {keys.key_id()}")
        current_text = env_text(current)
        current_path = repo.write("app.env", current_text)
        repo.commit("current")
        untracked_text = env_text(untracked)
        untracked_path = repo.write("scratch.env", untracked_text)
        code, report, _ = scan_json("--no-history", str(repo.path))
        assert code == 1
        assert key_ids(report) == {current, untracked}
        assert locations(report, current) == [file_location(current_path, current_text, current)]
        assert locations(report, untracked) == [
            file_location(untracked_path, untracked_text, untracked)
        ]


# --- bare repositories and mirrors -------------------------------------------------------------


def reachable_history(repo: GitRepo) -> set[str]:
    """Keys that only refs reach: deleted file, branch, tag-only commit, messages, HEAD."""
    k = {n: keys.key_id() for n in ("deleted", "merged", "open", "tagonly", "tag", "msg", "head")}
    repo.write("old.env", env_text(k["deleted"]))
    repo.commit("old", author=ALICE)
    repo.remove("old.env")
    repo.commit("drop old")
    repo.checkout("merged", "-b")
    repo.write("merged.env", env_text(k["merged"]))
    repo.commit("merged work", author=BOB)
    repo.checkout("main")
    repo.merge("merged", "--no-ff", "-m", "merge")
    repo.checkout("open", "-b")
    repo.write("open.env", env_text(k["open"]))
    repo.commit("open work")
    repo.checkout("main")
    repo.checkout("HEAD", "--detach")
    repo.write("tagonly.env", env_text(k["tagonly"]))
    repo.commit("tag only")
    repo.tag("light")
    repo.checkout("main")
    repo.tag("v1", message=f"release {k['tag']}")
    repo.write("head.env", env_text(k["head"]))
    repo.commit(f"head, see {k['msg']}")
    return set(k.values())


class TestBareAndMirror:
    @pytest.mark.parametrize("how", ["bare", "mirror", "git-dir"])
    def test_same_history_findings_as_the_work_tree_repository(
        self, repo: GitRepo, tmp_path: Path, how: str
    ) -> None:
        """A bare clone, a mirror and the .git folder give the same history findings."""
        expected = reachable_history(repo)
        code, original, _ = scan_json("--no-worktree", str(repo.path))
        assert code == 1
        assert key_ids(original) == expected
        if how == "git-dir":
            target = repo.git_dir
        else:
            target = GitRepo.clone(repo, tmp_path / f"{how}.git", f"--{how}").path
        code, report, stderr = scan_json(str(target))
        assert code == 1, stderr
        assert history_view(report) == history_view(original)
        assert all(loc["source"] == "git" for f in report["findings"] for loc in f["locations"])


# --- range options ----------------------------------------------------------------------------


class RangeRepo:
    """main: c1 (k1) - c2 (k2) - c3 (k3, message km); feature from c2: f1 (kf)."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self.k1, self.k2, self.k3, self.km, self.kf = (keys.key_id() for _ in range(5))
        repo.write("one.env", env_text(self.k1))
        self.c1 = repo.commit("one")
        repo.write("two.env", env_text(self.k2))
        self.c2 = repo.commit("two")
        repo.checkout("feature", "-b")
        repo.write("feature.env", env_text(self.kf))
        self.f1 = repo.commit("feature")
        repo.checkout("main")
        repo.write("three.env", env_text(self.k3))
        self.c3 = repo.commit(f"three\n\nalso {self.km}\n")


@pytest.fixture
def ranged(repo: GitRepo) -> RangeRepo:
    return RangeRepo(repo)


class TestRanges:
    def test_since_commit_reports_only_later_commits(self, ranged: RangeRepo) -> None:
        """--since-commit REV reports keys introduced after REV on HEAD, not before it."""
        code, report, _ = scan_json("--since-commit", ranged.c1, str(ranged.repo.path))
        assert code == 1
        assert key_ids(report) == {ranged.k2, ranged.k3, ranged.km}
        [location] = locations(report, ranged.k2)
        assert (location["path"], location["commit"], location["reachable"]) == (
            "two.env", ranged.c2, True,
        )  # fmt: skip

    def test_since_head_reports_nothing(self, ranged: RangeRepo) -> None:
        """--since-commit HEAD selects no commits, so nothing is reported."""
        code, report, _ = scan_json("--since-commit", "HEAD", str(ranged.repo.path))
        assert (code, report["findings"]) == (0, [])

    def test_range_reports_only_commits_in_it(self, ranged: RangeRepo) -> None:
        """--range A..B reports keys introduced by the commits in A..B only."""
        code, report, _ = scan_json("--range", f"{ranged.c1}..{ranged.c2}", str(ranged.repo.path))
        assert code == 1
        assert key_ids(report) == {ranged.k2}
        assert [(loc["path"], loc["commit"]) for loc in locations(report, ranged.k2)] == [
            ("two.env", ranged.c2)
        ]

    def test_branch_reports_that_branch_history_only(self, ranged: RangeRepo) -> None:
        """--branch REF reports the history of REF and not commits only on other branches."""
        code, report, _ = scan_json("--branch", "feature", str(ranged.repo.path))
        assert code == 1
        assert key_ids(report) == {ranged.k1, ranged.k2, ranged.kf}
        assert [(loc["path"], loc["commit"]) for loc in locations(report, ranged.kf)] == [
            ("feature.env", ranged.f1)
        ]

    def test_since_commit_with_branch(self, ranged: RangeRepo) -> None:
        """--since-commit A --branch B scans A..B."""
        code, report, _ = scan_json(
            "--since-commit", ranged.c2, "--branch", "feature", str(ranged.repo.path)
        )
        assert code == 1
        assert key_ids(report) == {ranged.kf}

    def test_range_skips_the_work_tree_and_unrelated_objects(self, ranged: RangeRepo) -> None:
        """A range scan does not report dangling blobs, notes or untracked files."""
        repo = ranged.repo
        repo.hash_object(env_text(keys.key_id()).encode())
        repo.note(f"note {keys.key_id()}")
        code, report, _ = scan_json("--range", f"{ranged.c2}..{ranged.c3}", str(repo.path))
        assert code == 1
        assert key_ids(report) == {ranged.k3, ranged.km}

    @pytest.mark.parametrize(
        "option",
        [
            ["--since-commit", "no-such-rev"],
            ["--range", "no-such-rev..HEAD"],
            ["--range", "HEAD..no-such-rev"],
            ["--branch", "no-such-rev"],
        ],
        ids=["since", "range-start", "range-end", "branch"],
    )
    def test_invalid_rev_exits_2_with_a_helpful_message(
        self, ranged: RangeRepo, option: list[str]
    ) -> None:
        """An unknown revision exits 2 and names the revision and how to check it."""
        result = run_cli("scan", "-f", "json", *option, str(ranged.repo.path))
        assert result.exit_code == 2
        assert "no-such-rev" in result.stderr
        assert "error" in result.stderr
        assert "Traceback" not in result.stderr

    def test_range_without_dots_is_a_usage_error(self, ranged: RangeRepo) -> None:
        """--range with a single revision exits 2."""
        result = run_cli("scan", "--range", ranged.c1, str(ranged.repo.path))
        assert result.exit_code == 2
        assert "A..B" in result.stderr

    @pytest.mark.parametrize(
        "option", [["--since-commit", "HEAD"], ["--range", "A..B"], ["--branch", "main"]],
        ids=["since", "range", "branch"],
    )  # fmt: skip
    def test_range_options_on_a_plain_folder_exit_2(
        self, tmp_path: Path, option: list[str]
    ) -> None:
        """Range options on a folder that is not a repository exit 2 and say why."""
        folder = tmp_path / "plain"
        folder.mkdir()
        (folder / "a.env").write_text(env_text(keys.key_id()))
        result = run_cli("scan", *option, str(folder))
        assert result.exit_code == 2
        assert "not a git repository" in result.stderr


# --- subfolders -------------------------------------------------------------------------------


class TestSubfolder:
    def test_subfolder_of_a_repository_is_scanned_as_plain_files(self, repo: GitRepo) -> None:
        """A folder inside a repository is scanned as files, not as the whole repository."""
        inside, outside, deleted = keys.key_id(), keys.key_id(), keys.key_id()
        repo.write("gone.env", env_text(deleted))
        repo.commit("gone")
        repo.remove("gone.env")
        repo.commit("drop")
        text = env_text(inside)
        path = repo.write("services/api/app.env", text)
        repo.write("top.env", env_text(outside))
        repo.commit("layout")
        code, report, _ = scan_json(str(repo.path / "services"))
        assert code == 1
        assert key_ids(report) == {inside}
        assert locations(report, inside) == [file_location(path, text, inside)]


# --- worker processes -------------------------------------------------------------------------


class TestWorkers:
    def test_parallel_workers_give_the_same_findings(
        self, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Scanning history through cat-file in two worker processes (as for a repository
        whose packs are not read here) gives the same findings as one process."""
        monkeypatch.setattr(keyscan.history, "_open_packs", lambda *_: None)
        expected = set(rich_history(repo).values())
        for n in range(12):
            key = keys.key_id()
            expected.add(key)
            repo.write(f"batch/{n}.env", env_text(key, f"filler {'x' * 4000} {n}"))
            repo.commit(f"batch {n}")
        monkeypatch.setattr(keyscan.history, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(keyscan.history, "BATCH_OBJECTS", 7)
        batches: list[int] = []
        real_batches = keyscan.history._batches

        def recording_batches(objects: Any, listing: Any) -> Any:
            for batch in real_batches(objects, listing):
                batches.append(len(batch.split()))
                yield batch

        monkeypatch.setattr(keyscan.history, "_batches", recording_batches)
        code, serial, _ = scan_json("--jobs", "1", str(repo.path))
        assert code == 1
        assert batches == []
        code, parallel, _ = scan_json("--jobs", "2", str(repo.path))
        assert code == 1
        assert len(batches) > 2, "the scan went through the worker pool, in several batches"
        assert key_ids(serial) == expected
        assert comparable(parallel) == comparable(serial)

    def test_library_scan_matches_the_cli(self, repo: GitRepo) -> None:
        """scan_paths on a repository finds the same credentials as the command line."""
        expected = set(rich_history(repo).values())
        result = scan_paths([str(repo.path)], load_rules(), ScanOptions(jobs=1))
        assert {f.key_id for f in result.findings} == expected
        assert result.warnings == []
        kinds = {loc.provenance.kind for f in result.findings for loc in f.locations}
        assert kinds == {"blob", "commit message", "tag message", "note"}


class TestBatches:
    def test_batches_cover_the_listing_once_in_order_within_the_budget(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Batches cut from a growing listing hold every object once, in order, near the budget."""
        from keyscan.sources.git import ObjectList

        objects = ObjectList()
        sizes = [40, 10, 70, 5, 5, 90, 30, 30, 30, 1]
        for i, size in enumerate(sizes):
            objects.add(b"blob", f"{i:040d}".encode(), size)
        monkeypatch.setattr(keyscan.history, "BATCH_BYTES", 100)
        batches = [b.split() for b in keyscan.history._batches(objects, iter([2, 5, 9, 10]))]
        assert [oid for batch in batches for oid in batch] == objects.oids()
        by_size = [[sizes[int(oid)] for oid in batch] for batch in batches]
        assert by_size == [[40, 10, 70], [5, 5, 90], [30, 30, 30, 1]]
