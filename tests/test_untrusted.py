"""Scanning a repository must never run anything from it, write to it, or fetch for it.

Each trap is a script that records that it ran. Where plain git can spring the trap, a control
step does so after the scan, proving the trap was live and only keyscan stepped around it.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import keys
import pytest
from conftest import key_ids, scan_json
from gitrepo import GitRepo, run_git

HOOKS = (
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
    "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout",
    "post-merge", "pre-push", "pre-receive", "update", "proc-receive", "post-receive",
    "post-update", "reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite",
    "sendemail-validate", "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist",
    "p4-post-changelist", "p4-pre-submit", "post-index-change",
)  # fmt: skip


def env_text(key: str) -> str:
    return f"# settings\nregion = eu-west-1\naws_access_key_id = {key}\n"


def snapshot(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every entry under `root`: kind, size, mtime (ns) and mode, by relative path."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            size = 0 if kind == "dir" else st.st_size
            entries[os.path.relpath(path, root)] = (kind, size, st.st_mtime_ns, st.st_mode)
    return entries


@dataclass
class Traps:
    """Scripts that leave a record in `log` when anything runs them."""

    root: Path
    log: Path = field(init=False)
    script: str = field(init=False)  # records, exits 0
    filter: str = field(init=False)  # records, then passes standard input through

    def __post_init__(self) -> None:
        bin_dir = self.root / "bin"
        bin_dir.mkdir(parents=True)
        self.log = self.root / "ran.log"
        for name, tail in (("trap", "exit 0"), ("trap-filter", "exec cat")):
            path = bin_dir / name
            path.write_text(f'#!/bin/sh\necho "$0 $*" >> "{self.log}"\n{tail}\n')
            path.chmod(0o755)
        self.script, self.filter = str(bin_dir / "trap"), str(bin_dir / "trap-filter")

    def ran(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@dataclass
class Hostile:
    repo: GitRepo
    traps: Traps
    keys: set[str]  # what a full scan (history and work tree) must find


def hostile_repo(tmp_path: Path) -> Hostile:
    """Keys in deleted history, a tracked *.env file (last commit fake-signed), an uncommitted
    change and an untracked file; .gitattributes routes *.env through a filter and a diff driver."""
    traps = Traps(tmp_path / "traps")
    repo = GitRepo.init(tmp_path / "repo")
    history, app, modified, untracked = (keys.key_id() for _ in range(4))
    repo.write(".gitattributes", "*.env filter=evil diff=evil\n")
    repo.write("notes.env", "region = eu-west-1\n")
    repo.write("gone.env", env_text(history))
    repo.commit("start")
    repo.remove("gone.env")
    repo.commit("remove")
    repo.write("app.env", env_text(app))
    repo.commit("app settings")
    repo.fake_sign_head()
    repo.write("notes.env", env_text(modified))
    repo.write("scratch.env", env_text(untracked))
    return Hostile(repo, traps, {history, app, modified, untracked})


def trap_config(traps: Traps) -> dict[str, dict[str, str]]:
    s, f = traps.script, traps.filter
    return {
        "fsmonitor": {"core.fsmonitor": s},
        "filters": {
            "filter.evil.clean": f, "filter.evil.smudge": f, "filter.evil.process": f,
            "filter.evil.required": "true", "diff.evil.textconv": f, "diff.evil.command": s,
        },
        "signatures": {
            "log.showSignature": "true", "gpg.program": s, "gpg.ssh.program": s,
            "gpg.x509.program": s,
        },
        "external-diff": {"diff.external": s},
        "pager": {
            "core.pager": s, "pager.log": s, "pager.cat-file": s, "pager.rev-list": s,
            "pager.ls-files": s, "pager.for-each-ref": s, "pager.rev-parse": s,
        },
        "aliases": {
            f"alias.{name}": f"!{s}"
            for name in ("log", "cat-file", "rev-list", "ls-files", "for-each-ref",
                         "rev-parse", "scan", "status", "diff")
        },
        "fetch": {
            "remote.origin.url": "ssh://git.example.invalid/repo.git",
            "remote.origin.fetch": "+refs/heads/*:refs/remotes/origin/*",
            "remote.origin.uploadpack": s, "core.sshCommand": s, "core.askPass": s,
            "credential.helper": f"!{s}",
        },
        "editors": {"core.editor": s, "sequence.editor": s},
    }  # fmt: skip


# Plain git commands that spring each trap (None: only a terminal or a user would).
CONTROLS: dict[str, list[str] | None] = {
    "fsmonitor": ["status"],
    "filters": ["diff"],
    "signatures": ["log", "-1"],
    "external-diff": ["diff"],
    "pager": None,
    "aliases": None,
    "fetch": ["fetch", "origin"],
    "editors": None,
}


class TestNothingFromTheRepositoryRuns:
    @pytest.mark.parametrize("trap", list(CONTROLS))
    def test_configured_programs_never_run(self, tmp_path: Path, trap: str) -> None:
        """Programs named in the repository's config never run during a full scan."""
        hostile = hostile_repo(tmp_path)
        for name, value in trap_config(hostile.traps)[trap].items():
            hostile.repo.config(name, value)
        code, report, stderr = scan_json(str(hostile.repo.path))
        assert hostile.traps.ran() == "", f"keyscan ran {hostile.traps.ran()}"
        assert code == 1, stderr
        assert key_ids(report) == hostile.keys
        control = CONTROLS[trap]
        if control is not None:
            hostile.repo.git(*control, check=False)
            assert hostile.traps.ran(), "control: plain git springs this trap"

    def test_hooks_never_run(self, tmp_path: Path) -> None:
        """No hook runs, whether in .git/hooks or in a core.hooksPath folder."""
        hostile = hostile_repo(tmp_path)
        other_hooks = tmp_path / "other-hooks"
        other_hooks.mkdir()
        for folder in (hostile.repo.git_dir / "hooks", other_hooks):
            for name in HOOKS:
                (folder / name).write_text(f"#!/bin/sh\nexec {hostile.traps.script} {name}\n")
                (folder / name).chmod(0o755)
        code, report, _ = scan_json(str(hostile.repo.path))
        hostile.repo.config("core.hooksPath", str(other_hooks))
        code2, report2, _ = scan_json(str(hostile.repo.path))
        assert hostile.traps.ran() == ""
        assert (code, code2) == (1, 1)
        assert key_ids(report) == key_ids(report2) == hostile.keys
        hostile.repo.git("commit", "-q", "--allow-empty", "-m", "control", check=False)
        assert "pre-commit" in hostile.traps.ran(), "control: plain git runs the hooks"

    def test_filtered_file_is_scanned_raw(self, tmp_path: Path) -> None:
        """A key in a blob whose attributes name a filter is found in the raw blob."""
        hostile = hostile_repo(tmp_path)
        for name, value in trap_config(hostile.traps)["filters"].items():
            hostile.repo.config(name, value)
        code, report, _ = scan_json(str(hostile.repo.path))
        assert code == 1
        app = [f for f in report["findings"] if f["locations"][0]["path"] == "app.env"]
        assert len(app) == 1
        assert app[0]["locations"][0]["kind"] == "blob"
        assert hostile.traps.ran() == ""

    def test_inherited_config_parameters_are_ignored(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`-c` settings inherited from a parent git (GIT_CONFIG_COUNT, ...) do not apply."""
        hostile = hostile_repo(tmp_path)
        s = hostile.traps.script
        monkeypatch.setenv("GIT_CONFIG_COUNT", "2")
        monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.fsmonitor")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", s)
        monkeypatch.setenv("GIT_CONFIG_KEY_1", "log.showSignature")
        monkeypatch.setenv("GIT_CONFIG_VALUE_1", "true")
        monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'gpg.program'='{s}' 'core.pager'='{s}'")
        monkeypatch.setenv("GIT_EXTERNAL_DIFF", s)
        monkeypatch.setenv("GIT_PAGER", s)
        code, report, _ = scan_json(str(hostile.repo.path))
        assert hostile.traps.ran() == ""
        assert code == 1
        assert key_ids(report) == hostile.keys


class TestRepositoryIsNotModified:
    def test_nothing_under_the_repository_changes(self, tmp_path: Path) -> None:
        """Paths, sizes, modes and mtimes of the work tree and .git are the same after a scan."""
        hostile = hostile_repo(tmp_path)
        hostile.repo.hash_object(env_text(keys.key_id()).encode())
        before = snapshot(hostile.repo.path)
        code, _, _ = scan_json(str(hostile.repo.path))
        assert code == 1
        after = snapshot(hostile.repo.path)
        assert sorted(set(after) - set(before)) == []
        assert after == before

    def test_scan_works_while_another_git_holds_the_locks(self, tmp_path: Path) -> None:
        """Existing lock files (index, HEAD, refs, config) neither stop the scan nor get touched."""
        hostile = hostile_repo(tmp_path)
        git_dir = hostile.repo.git_dir
        locks = [git_dir / name for name in
                 ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock",
                  "refs/heads/main.lock", "shallow.lock")]  # fmt: skip
        for lock in locks:
            lock.write_text("held by another process\n")
        before = snapshot(hostile.repo.path)
        code, report, stderr = scan_json(str(hostile.repo.path))
        assert code == 1
        assert key_ids(report) == hostile.keys
        assert "warning" not in stderr
        assert snapshot(hostile.repo.path) == before


class TestOwnershipAndEnvironment:
    @pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's owner needs root")
    def test_repository_owned_by_another_user(self, tmp_path: Path) -> None:
        """A repository owned by another user is scanned; the global config gains nothing."""
        hostile = hostile_repo(tmp_path)
        copy = tmp_path / "theirs"
        shutil.copytree(hostile.repo.path, copy, symlinks=True)
        for dirpath, dirnames, filenames in os.walk(copy):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), 12345, 12345)
        os.lchown(copy, 12345, 12345)
        global_config = Path(os.environ["GIT_CONFIG_GLOBAL"])
        global_config.write_text("[user]\n\tname = Someone\n")
        status = run_git(copy, "status", check=False)
        assert status == "", "control: plain git refuses this repository"
        code, report, stderr = scan_json(str(copy))
        assert code == 1, stderr
        assert key_ids(report) == hostile.keys
        assert global_config.read_text() == "[user]\n\tname = Someone\n"
        assert not (Path(os.environ["HOME"]) / ".gitconfig.lock").exists()

    def test_inherited_git_variables_do_not_redirect_the_scan(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE etc. naming another repository are ignored."""
        hostile = hostile_repo(tmp_path)
        other = GitRepo.init(tmp_path / "other")
        other.write("other.env", env_text(keys.key_id()))
        other.commit("other")
        other.write("other-untracked.env", env_text(keys.key_id()))
        other_git = str(other.git_dir)
        for name, value in {
            "GIT_DIR": other_git, "GIT_WORK_TREE": str(other.path),
            "GIT_INDEX_FILE": os.path.join(other_git, "index"),
            "GIT_OBJECT_DIRECTORY": os.path.join(other_git, "objects"),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.path.join(other_git, "objects"),
            "GIT_COMMON_DIR": other_git, "GIT_NAMESPACE": "elsewhere",
            "GIT_CEILING_DIRECTORIES": "/", "GIT_DISCOVERY_ACROSS_FILESYSTEM": "0",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        code, report, _ = scan_json(str(hostile.repo.path))
        assert code == 1
        assert key_ids(report) == hostile.keys
        paths = {loc["path"] for f in report["findings"] for loc in f["locations"]}
        assert not any(p and "other" in p for p in paths)


def two_commit_source(tmp_path: Path) -> tuple[GitRepo, str, str, str]:
    """c1 adds old.env (old key); c2 deletes it, adds new.env (new key), message key."""
    source = GitRepo.init(tmp_path / "source")
    old, new, message = keys.key_id(), keys.key_id(), keys.key_id()
    source.write("old.env", env_text(old))
    source.commit("old")
    source.remove("old.env")
    source.write("new.env", env_text(new))
    source.commit(f"new\n\nrotated from {message}\n")
    source.config("uploadpack.allowFilter", "true")
    return source, old, new, message


class TestIncompleteRepositories:
    def test_shallow_clone_finds_the_key_at_head(self, tmp_path: Path) -> None:
        """A shallow clone is scanned and the key at HEAD is found at its path and commit."""
        source, _, new, message = two_commit_source(tmp_path)
        clone = GitRepo.clone(source, tmp_path / "shallow", "--depth", "1")
        assert (clone.git_dir / "shallow").exists()
        code, report, stderr = scan_json(str(clone.path))
        assert code == 1, stderr
        assert key_ids(report) == {new, message}
        [location] = [loc for f in report["findings"] if f["key_id"] == new
                      for loc in f["locations"]]  # fmt: skip
        assert (location["path"], location["commit"]) == ("new.env", clone.rev("HEAD"))

    @pytest.mark.parametrize("checkout", [True, False], ids=["checkout", "no-checkout"])
    def test_partial_clone_warns_and_never_fetches(self, tmp_path: Path, checkout: bool) -> None:
        """A partial clone with missing blobs: a warning, the rest is scanned, nothing fetched."""
        source, _, new, message = two_commit_source(tmp_path)
        options = ["--filter=blob:none"] + ([] if checkout else ["--no-checkout"])
        clone = GitRepo.clone(source, tmp_path / "partial", *options)
        traps = Traps(tmp_path / "traps")
        clone.config("remote.origin.uploadpack", traps.script)
        before = snapshot(clone.path)
        code, report, stderr = scan_json(str(clone.path))
        assert traps.ran() == "", "a fetch was attempted"
        assert snapshot(clone.path) == before
        assert code == 1, stderr
        assert key_ids(report) == ({new, message} if checkout else {message})
        assert "warning" in stderr and ("missing" in stderr or "partial" in stderr), (
            f"no warning that some history was not scanned; stderr: {stderr!r}"
        )
        clone.git("fetch", "origin", check=False)
        assert traps.ran(), "control: plain git fetch runs remote.origin.uploadpack"

    def test_removed_loose_object_does_not_stop_the_scan(self, tmp_path: Path) -> None:
        """A blob deleted from the object store is skipped; the other keys are still found."""
        repo = GitRepo.init(tmp_path / "repo")
        lost, kept, message = keys.key_id(), keys.key_id(), keys.key_id()
        repo.write("lost.env", env_text(lost))
        repo.write("kept.env", env_text(kept))
        repo.commit(f"both, and {message}")
        repo.remove("lost.env")
        repo.commit("drop lost")
        blob = repo.rev("HEAD~1:lost.env")
        repo.loose_object(blob).unlink()
        code, report, stderr = scan_json(str(repo.path))
        assert code == 1, stderr
        assert key_ids(report) == {kept, message}

    @pytest.mark.parametrize("damage", ["garbage", "truncated"])
    def test_corrupt_loose_object_warns_and_the_scan_goes_on(
        self, tmp_path: Path, damage: str
    ) -> None:
        """A corrupt loose object is reported in a warning and every other key is still found."""
        repo = GitRepo.init(tmp_path / "repo")
        by_blob: dict[str, str] = {}
        for n in range(6):
            key = keys.key_id()
            # Random-looking filler keeps the blob large after compression, so a truncated
            # object still has a readable header.
            text = env_text(key) + os.urandom(12_000).hex() + "\n"
            repo.write(f"f{n}.env", text)
            by_blob[repo.git("hash-object", "--stdin", input=text.encode())] = key
        repo.commit("six keys")
        order = repo.git(
            "cat-file", "--batch-all-objects", "--batch-check=%(objectname)", "--unordered"
        ).split()
        victim = next(oid for oid in order if oid in by_blob)  # read first: worst case
        path = repo.loose_object(victim)
        path.chmod(0o644)
        if damage == "garbage":
            path.write_bytes(b"not a zlib stream " * 8)
        else:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        code, report, stderr = scan_json(str(repo.path))
        assert code == 1, stderr
        assert "warning" in stderr and victim in stderr
        assert set(by_blob.values()) - key_ids(report) <= {by_blob[victim]}
        assert key_ids(report) >= set(by_blob.values()) - {by_blob[victim]}


class TestOtherRepositories:
    def test_lfs_pointer_is_scanned_as_text_and_nothing_is_fetched(self, tmp_path: Path) -> None:
        """A Git LFS pointer file is scanned as it is stored; no LFS filter runs."""
        repo = GitRepo.init(tmp_path / "repo")
        traps = Traps(tmp_path / "traps")
        committed, untracked = keys.key_id(), keys.key_id()
        repo.write(".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n")

        def pointer(key: str) -> str:
            return (
                "version https://git-lfs.github.com/spec/v1\n"
                f"oid sha256:{os.urandom(32).hex()}\nsize 123456\n"
                f"# uploaded with AWS_ACCESS_KEY_ID={key}\n"
            )

        repo.write("model.bin", pointer(committed))
        repo.commit("model")
        repo.write("weights.bin", pointer(untracked))
        for name in ("clean", "smudge", "process"):
            repo.config(f"filter.lfs.{name}", traps.filter)
        repo.config("filter.lfs.required", "true")
        repo.config("lfs.url", "https://lfs.example.invalid/")
        code, report, _ = scan_json(str(repo.path))
        assert traps.ran() == ""
        assert code == 1
        assert key_ids(report) == {committed, untracked}
        places = {(loc["source"], loc["path"]) for f in report["findings"]
                  for loc in f["locations"]}  # fmt: skip
        assert places == {("git", "model.bin"), ("file", str(repo.path / "weights.bin"))}

    @staticmethod
    def superproject(tmp_path: Path) -> tuple[GitRepo, str, str]:
        """A superproject with a key of its own and a checked-out submodule holding another."""
        sub = GitRepo.init(tmp_path / "sub")
        inside = keys.key_id()
        sub.write("secret.env", env_text(inside))
        sub.commit("sub secret")
        sup = GitRepo.init(tmp_path / "super")
        outside = keys.key_id()
        sup.write("app.env", env_text(outside))
        sup.commit("app")
        sup.git("submodule", "add", "-q", f"file://{sub.path}", "vendor/sub")
        sup.commit("add submodule")
        return sup, outside, inside

    def test_submodule_is_not_entered(self, tmp_path: Path) -> None:
        """A key only inside a submodule's own repository is not reported for the superproject."""
        sup, outside, _ = self.superproject(tmp_path)
        assert (sup.path / "vendor" / "sub" / "secret.env").exists()
        code, report, _ = scan_json(str(sup.path))
        assert code == 1
        assert key_ids(report) == {outside}

    def test_recurse_submodules_enters_checked_out_submodules(self, tmp_path: Path) -> None:
        """With --recurse-submodules, the submodule's history is scanned, under its path."""
        sup, outside, inside = self.superproject(tmp_path)
        code, report, _ = scan_json("--recurse-submodules", str(sup.path))
        assert code == 1
        assert key_ids(report) == {outside, inside}
        paths = {
            loc["path"]
            for f in report["findings"]
            if f["key_id"] == inside
            for loc in f["locations"]
            if loc["source"] == "git"
        }
        assert paths == {"vendor/sub/secret.env"}
