"""The developer's workflow: git hooks that stop a credential before it leaves the machine.

Every test drives real git commands (`git push` from a clone to a bare remote, `git commit`)
in temporary folders, with keyscan's hooks installed by the real CLI (`keyscan hook install`,
run with this interpreter), so git runs them exactly as it would for a user. Keys are
generated at run time (tests/keys.py). What a push did is read from the remote's refs, never
taken from keyscan's word.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import keys
import pytest
import yaml
from conftest import run_keyscan
from gitrepo import EMAIL, NAME, GitRepo

REPO = Path(__file__).resolve().parents[1]
ZERO = "0" * 40
PUSH_REFUSED = "keyscan: push refused"
COMMIT_REFUSED = "keyscan: commit refused"

# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a git command (and the hooks it ran) did: its exit code and everything it said."""

    code: int
    output: str


def git_command(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    """Run git as a user would, hooks included: the test identity, no inherited GIT_* setting
    but the isolated config (and whatever `env` adds), and the exit code left to the test."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") or k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")
    }
    full_env.update(env or {})
    proc = subprocess.run(
        ["git", "-c", f"user.name={NAME}", "-c", f"user.email={EMAIL}",
         "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false", *args],
        cwd=cwd, env=full_env, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return Outcome(proc.returncode, output)


def keyscan_cli(cwd: Path, *args: str) -> Outcome:
    """`python -m keyscan ARGS` in `cwd`, as a subprocess of this interpreter."""
    proc = run_keyscan(*args, cwd=cwd)
    return Outcome(proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace"))


def commit(repo: GitRepo, *options: str) -> Outcome:
    """`git commit -m change OPTIONS`, hooks included."""
    return git_command(repo.path, "commit", "-q", "-m", "change", *options)


def install(repo: GitRepo, *options: str) -> str:
    result = keyscan_cli(repo.path, "hook", "install", *options)
    assert result.code == 0, result.output
    return result.output


def refs(remote: GitRepo) -> dict[str, str]:
    """The remote's refs: name -> object id."""
    out = remote.git("for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def credentials(key: str, secret: str | None = None, comment: str = "settings") -> str:
    """A small credentials file: the key ID on line 3, its secret (if any) on line 4."""
    text = f"# {comment}\nregion = eu-west-1\naws_access_key_id = {key}\n"
    if secret is not None:
        text += f"aws_secret_access_key = {secret}\n"
    return text


def at(path: str, text: str, needle: str) -> str:
    """`path:line:column` of `needle` in `text`, as keyscan's text report gives it."""
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{path}:{line}:{column}"


def assert_refused(result: Outcome, key: str, *places: str) -> None:
    """The push failed because of keyscan: it names the key and each place, and says what to
    do next."""
    assert result.code != 0, result.output
    assert PUSH_REFUSED in result.output, result.output
    assert key in result.output, result.output
    for place in places:
        assert place in result.output, result.output
    assert "keyscan baseline update" in result.output
    assert "keyscan:allow" in result.output
    assert "git push --no-verify" in result.output
    assert "keyscan: error" not in result.output, result.output


def assert_passed(result: Outcome) -> None:
    assert result.code == 0, result.output
    assert PUSH_REFUSED not in result.output, result.output


@dataclass
class Project:
    """A bare remote and a clone of it (`origin`) with keyscan's pre-push hook installed."""

    tmp: Path
    remote: GitRepo
    work: GitRepo

    def push(self, *args: str, env: dict[str, str] | None = None) -> Outcome:
        return git_command(self.work.path, "push", *args, env=env)

    def bypass(self, *args: str) -> None:
        """Push without the hook: what somebody else (or --no-verify) put on the remote."""
        result = git_command(self.work.path, "push", "--no-verify", *args)
        assert result.code == 0, result.output


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starting repositories, built (and their hooks installed by the CLI) once per module
    and copied for each test: a clone and its remote cost more than the test that uses them.
    Built in the same isolation conftest gives each test, which is function-scoped."""
    root = tmp_path_factory.mktemp("templates")
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("GIT_"):
                env.delenv(name)
        env.setenv("HOME", str(root / "home"))
        env.setenv("XDG_CACHE_HOME", str(root / "home" / ".cache"))
        env.setenv("GIT_CONFIG_GLOBAL", str(root / "home" / ".gitconfig"))
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        seed = GitRepo.init(root / "seed")
        seed.write("README.md", "# project\n")
        seed.commit("initial")
        remote = GitRepo.clone(seed, root / "remote.git", "--bare")
        install(GitRepo.clone(remote, root / "work"))
        committer = GitRepo.init(root / "committer")
        committer.write("README.md", "# project\n")
        committer.write("settings.ini", "[main]\nregion = eu-west-1\n")
        committer.commit("initial")
        install(committer, "--pre-commit")
    return root


def copy_template(templates: Path, name: str, to: Path) -> GitRepo:
    shutil.copytree(templates / name, to, symlinks=True)
    repo = GitRepo(to, bare=name.endswith(".git"))
    repo.stamp += 3600  # the template made one commit
    return repo


@pytest.fixture
def project(tmp_path: Path, templates: Path) -> Project:
    remote = copy_template(templates, "remote.git", tmp_path / "remote.git")
    work = copy_template(templates, "work", tmp_path / "work")
    work.git("remote", "set-url", "origin", f"file://{remote.path}")
    return Project(tmp_path, remote, work)


def previous_hook(path: Path, marker: Path, exit_code: int = 0) -> bytes:
    """A user's own pre-push hook that records its stdin and arguments; returns its bytes."""
    script = (
        "#!/bin/sh\n"
        f"cat > '{marker}'\n"
        f"printf '%s\\n' \"$1\" \"$2\" > '{marker}.args'\n"
        f"exit {exit_code}\n"
    ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(script)
    path.chmod(0o755)
    return script


# --- pre-push: what a push sends -------------------------------------------------------------


class TestPrePush:
    def test_clean_push_passes(self, project: Project) -> None:
        """A push of clean commits goes through, and the remote's branch moves to them."""
        work = project.work
        work.write("src/app.py", "print('hello')\n")
        head = work.commit("add app")
        result = project.push("origin", "main")
        assert_passed(result)
        assert refs(project.remote)["refs/heads/main"] == head

    def test_key_added_then_deleted_within_the_push_is_refused(self, project: Project) -> None:
        """A key committed and deleted again before the push is still refused: the push sends
        the commit that holds it. The report names the key, file, commit and line."""
        work = project.work
        before = refs(project.remote)["refs/heads/main"]
        key, secret = keys.key_id(), keys.secret_key()
        text = credentials(key, secret)
        work.write("config/prod.env", text)
        added = work.commit("add settings")
        work.remove("config/prod.env")
        work.commit("remove settings")
        result = project.push("origin", "main")
        assert_refused(result, key, at("config/prod.env", text, key), f"commit {added[:12]}")
        assert secret not in result.output  # the report redacts secrets
        assert refs(project.remote)["refs/heads/main"] == before

    def test_keys_already_on_the_remote_do_not_block_a_clean_push(self, project: Project) -> None:
        """Only what the push adds is scanned: a key the remote already has (pushed past the
        hook) does not refuse the next, clean, push."""
        work = project.work
        work.write("old.env", credentials(keys.key_id()))
        work.commit("an old leak")
        project.bypass("origin", "main")
        work.write("src/app.py", "print('hello')\n")
        head = work.commit("clean change")
        result = project.push("origin", "main")
        assert_passed(result)
        assert "finding" not in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_new_branch_with_key_is_refused(self, project: Project) -> None:
        """A new branch holding a key is refused, and the remote does not get the branch."""
        work = project.work
        work.checkout("feature", "-b")
        key = keys.key_id()
        text = credentials(key)
        work.write("feature.env", text)
        commit = work.commit("feature")
        result = project.push("origin", "feature")
        assert_refused(result, key, at("feature.env", text, key), f"commit {commit[:12]}")
        assert "refs/heads/feature" not in refs(project.remote)

    def test_new_branch_of_commits_the_remote_has_passes(self, project: Project) -> None:
        """A new branch whose commits are all on the remote already passes, even when those
        commits hold a key: it sends nothing new."""
        work = project.work
        work.write("old.env", credentials(keys.key_id()))
        head = work.commit("an old leak")
        project.bypass("origin", "main")
        work.branch("copy", "main")
        result = project.push("origin", "copy")
        assert_passed(result)
        assert "finding" not in result.output
        assert refs(project.remote)["refs/heads/copy"] == head

    def test_new_branch_with_clean_commits_on_a_leaky_base_passes(self, project: Project) -> None:
        """A new branch is scanned against every branch the remote has: a key on the remote's
        main does not refuse a clean branch made from it."""
        work = project.work
        work.write("old.env", credentials(keys.key_id()))
        work.commit("an old leak")
        project.bypass("origin", "main")
        work.checkout("feature", "-b")
        work.write("src/feature.py", "print('feature')\n")
        head = work.commit("feature")
        result = project.push("origin", "feature")
        assert_passed(result)
        assert refs(project.remote)["refs/heads/feature"] == head

    def test_annotated_tag_whose_message_holds_a_key_is_refused(self, project: Project) -> None:
        """An annotated tag on a clean commit the remote has, with a key in its message, is
        refused: the tag object is what the push sends."""
        work = project.work
        key = keys.key_id()
        tag = work.tag("v1.0", message=f"release 1.0\n\naws_access_key_id = {key}\n")
        result = project.push("origin", "v1.0")
        assert_refused(result, key, f"tag message {tag[:12]}")
        assert "refs/tags/v1.0" not in refs(project.remote)

    def test_lightweight_tag_on_clean_commit_passes(self, project: Project) -> None:
        """A lightweight tag on a new, clean commit is pushed, and the remote has it."""
        work = project.work
        work.write("CHANGES.md", "1.1: faster\n")
        commit = work.commit("release 1.1")
        work.tag("v1.1")
        result = project.push("origin", "v1.1")
        assert_passed(result)
        assert refs(project.remote)["refs/tags/v1.1"] == commit

    def test_lightweight_tag_on_commit_with_key_is_refused(self, project: Project) -> None:
        """A tag push sends the commits the tag reaches: a key in them refuses it."""
        work = project.work
        key = keys.key_id()
        text = credentials(key)
        work.write("release.env", text)
        commit = work.commit("release 1.2")
        work.tag("v1.2")
        result = project.push("origin", "v1.2")
        assert_refused(result, key, at("release.env", text, key), f"commit {commit[:12]}")
        assert "refs/tags/v1.2" not in refs(project.remote)

    def test_branch_deletion_passes(self, project: Project) -> None:
        """Deleting a remote branch sends nothing, so it passes even when the branch holds a
        key (deleting it is the cure)."""
        work = project.work
        work.checkout("leaky", "-b")
        work.write("leak.env", credentials(keys.key_id()))
        work.commit("leak")
        project.bypass("origin", "leaky")
        assert "refs/heads/leaky" in refs(project.remote)
        result = project.push("origin", "--delete", "leaky")
        assert_passed(result)
        assert "refs/heads/leaky" not in refs(project.remote)

    def test_force_push_of_rewritten_history_with_key_is_refused(self, project: Project) -> None:
        """A force push that replaces the remote's clean commit with one holding a key is
        refused, and the remote keeps its commit."""
        work = project.work
        work.write("src/app.py", "print('v1')\n")
        work.commit("v1")
        assert_passed(project.push("origin", "main"))
        before = refs(project.remote)["refs/heads/main"]
        work.git("reset", "-q", "--hard", "HEAD~1")
        key = keys.key_id()
        text = credentials(key)
        work.write("src/settings.env", text)
        rewritten = work.commit("v1, rewritten")
        result = project.push("--force", "origin", "main")
        assert_refused(result, key, at("src/settings.env", text, key), f"commit {rewritten[:12]}")
        assert refs(project.remote)["refs/heads/main"] == before

    def test_force_push_that_removes_a_key_passes(self, project: Project) -> None:
        """A force push that rewrites a leaky commit away passes: the commit it drops is not
        sent again."""
        work = project.work
        work.write("src/settings.env", credentials(keys.key_id()))
        work.commit("leak")
        project.bypass("origin", "main")
        work.git("reset", "-q", "--hard", "HEAD~1")
        work.write("src/settings.py", "import os\nKEY = os.environ['AWS_ACCESS_KEY_ID']\n")
        fixed = work.commit("settings from the environment")
        result = project.push("--force", "origin", "main")
        assert_passed(result)
        assert refs(project.remote)["refs/heads/main"] == fixed

    def test_force_push_over_a_remote_commit_we_never_fetched(self, project: Project) -> None:
        """When the remote moved to a commit this clone does not have, the push is scanned
        against what the clone knows of the remote: a key in it is still refused."""
        other = GitRepo.clone(project.remote, project.tmp / "other")
        other.write("other.txt", "someone else's change\n")
        theirs = other.commit("theirs")
        other.git("push", "-q", "origin", "main")
        work = project.work
        key = keys.key_id()
        work.write("mine.env", credentials(key))
        work.commit("mine")
        result = project.push("--force", "origin", "main")
        assert_refused(result, key, "mine.env")
        assert refs(project.remote)["refs/heads/main"] == theirs

    def test_push_of_several_refs_is_refused_as_a_whole(self, project: Project) -> None:
        """A push of a clean branch and a leaky one is refused whole: neither ref moves."""
        work = project.work
        before = refs(project.remote)["refs/heads/main"]
        work.write("clean.txt", "clean\n")
        work.commit("clean")
        work.checkout("leaky", "-b")
        key = keys.key_id()
        work.write("leak.env", credentials(key))
        work.commit("leak")
        result = project.push("origin", "main", "leaky")
        assert_refused(result, key, "leak.env")
        assert refs(project.remote)["refs/heads/main"] == before
        assert "refs/heads/leaky" not in refs(project.remote)

    def test_key_in_a_commit_message_is_refused(self, project: Project) -> None:
        """Commit messages are pushed too: a key in one refuses the push."""
        work = project.work
        key = keys.key_id()
        commit = work.commit(f"deploy\n\naws_access_key_id = {key}\n")
        result = project.push("origin", "main")
        assert_refused(result, key, f"commit message {commit[:12]}")

    def test_key_in_a_pushed_note_is_refused(self, project: Project) -> None:
        """Pushing refs/notes/commits sends the note blobs: a key in a note refuses it."""
        work = project.work
        key = keys.key_id()
        work.note(f"deployed with aws_access_key_id = {key}")
        result = project.push("origin", "refs/notes/commits")
        assert_refused(result, key)
        assert "refs/notes/commits" not in refs(project.remote)

    def test_malformed_push_lines_are_an_error(self, project: Project) -> None:
        """Input that is not git's pre-push protocol exits 2 (never 0, never 1) and says so."""
        proc = run_keyscan(
            "hook", "pre-push", "origin", "url", input=b"garbage\n", cwd=project.work.path
        )
        assert proc.returncode == 2
        assert b"pre-push input line 1" in proc.stderr


class TestInheritedGitEnvironment:
    """Git exports GIT_DIR (and more) to hooks; a user's shell may hold GIT_INDEX_FILE."""

    def test_push_with_git_dir_and_work_tree_from_another_folder(self, project: Project) -> None:
        """`git --git-dir=… --work-tree=… push` run from outside the repository (relative
        paths): the hook scans that repository, refusing a key and passing a clean push."""
        work = project.work
        key = keys.key_id()
        text = credentials(key)
        work.write("leak.env", text)
        leak = work.commit("leak")
        options = ("--git-dir=work/.git", "--work-tree=work", "push", "origin", "main")
        result = git_command(project.tmp, *options)
        assert_refused(result, key, at("leak.env", text, key), f"commit {leak[:12]}")
        work.git("reset", "-q", "--hard", "HEAD~1")
        work.write("clean.txt", "clean\n")
        clean = work.commit("clean")
        assert_passed(git_command(project.tmp, *options))
        assert refs(project.remote)["refs/heads/main"] == clean

    def test_bogus_git_index_file_is_ignored_by_pre_push(self, project: Project) -> None:
        """An inherited GIT_INDEX_FILE naming no file changes nothing: a key is refused (not
        an error), a clean push passes."""
        env = {"GIT_INDEX_FILE": str(project.tmp / "no" / "such" / "index")}
        work = project.work
        key = keys.key_id()
        work.write("leak.env", credentials(key))
        work.commit("leak")
        assert_refused(project.push("origin", "main", env=env), key, "leak.env")
        work.git("reset", "-q", "--hard", "HEAD~1")
        work.write("clean.txt", "clean\n")
        clean = work.commit("clean")
        assert_passed(project.push("origin", "main", env=env))
        assert refs(project.remote)["refs/heads/main"] == clean

    def test_push_from_a_linked_worktree(self, project: Project) -> None:
        """In a linked worktree (GIT_DIR is .git/worktrees/NAME), the hook installed in the
        main repository runs and refuses a key."""
        project.work.git("worktree", "add", "-q", "-b", "side", str(project.tmp / "side"))
        side = GitRepo(project.tmp / "side")
        key = keys.key_id()
        text = credentials(key)
        side.write("leak.env", text)
        commit = side.commit("leak")
        result = git_command(side.path, "push", "origin", "side")
        assert_refused(result, key, at("leak.env", text, key), f"commit {commit[:12]}")
        assert "refs/heads/side" not in refs(project.remote)

    def test_commit_in_a_linked_worktree(self, project: Project) -> None:
        """The pre-commit hook reads the linked worktree's own index."""
        install(project.work, "--pre-commit")
        project.work.git("worktree", "add", "-q", "-b", "side", str(project.tmp / "side"))
        side = GitRepo(project.tmp / "side")
        key = keys.key_id()
        side.write("leak.env", credentials(key))
        side.git("add", "leak.env")
        result = commit(side)
        assert result.code == 1, result.output
        assert key in result.output and "leak.env" in result.output


# --- installing and removing the hooks ---------------------------------------------------------


class TestInstall:
    def test_install_writes_an_executable_hook_that_runs_this_python(self, tmp_path: Path) -> None:
        """The hook lands in .git/hooks, is executable, and runs keyscan with the Python that
        installed it."""
        repo = GitRepo.init(tmp_path / "repo")
        out = install(repo)
        hook = repo.git_dir / "hooks" / "pre-push"
        assert str(hook) in out
        assert hook.stat().st_mode & stat.S_IXUSR
        assert shlex.quote(sys.executable) in hook.read_text()
        assert not (repo.git_dir / "hooks" / "pre-commit").exists()  # pre-push by default

    def test_install_twice_is_idempotent(self, tmp_path: Path) -> None:
        """A second install leaves the hooks folder as the first left it, and the hook that
        was there before is kept once, not replaced by ours."""
        repo = GitRepo.init(tmp_path / "repo")
        hooks = repo.git_dir / "hooks"
        theirs = previous_hook(hooks / "pre-push", tmp_path / "marker")
        install(repo, "--pre-push", "--pre-commit")

        def snapshot() -> dict[str, bytes]:
            return {p.name: p.read_bytes() for p in hooks.iterdir()}

        first = snapshot()
        install(repo, "--pre-push", "--pre-commit")
        assert snapshot() == first
        assert first["pre-push.keyscan-previous"] == theirs

    def test_existing_hook_keeps_running_with_the_same_stdin(self, project: Project) -> None:
        """A pre-push hook already there is kept and still runs, with the arguments and the
        stdin git gave; the push then goes through keyscan too."""
        work = project.work
        marker = project.tmp / "marker"
        hooks = work.git_dir / "hooks"
        keyscan_hook = (hooks / "pre-push").read_bytes()
        (hooks / "pre-push").unlink()
        theirs = previous_hook(hooks / "pre-push", marker)
        out = install(work)
        assert "pre-push.keyscan-previous" in out
        assert (hooks / "pre-push").read_bytes() == keyscan_hook

        before = refs(project.remote)["refs/heads/main"]
        work.write("clean.txt", "clean\n")
        clean = work.commit("clean")
        assert_passed(project.push("origin", "main"))
        assert marker.read_text() == f"refs/heads/main {clean} refs/heads/main {before}\n"
        url = work.git("remote", "get-url", "origin")
        assert (project.tmp / "marker.args").read_text() == f"origin\n{url}\n"

        key = keys.key_id()
        work.write("leak.env", credentials(key))
        leak = work.commit("leak")
        assert_refused(project.push("origin", "main"), key, "leak.env")
        assert marker.read_text() == f"refs/heads/main {leak} refs/heads/main {clean}\n"
        assert (hooks / "pre-push.keyscan-previous").read_bytes() == theirs

    def test_existing_hook_that_fails_refuses_a_clean_push(self, project: Project) -> None:
        """The previous hook's verdict still counts: if it exits 1, a clean push is refused."""
        work = project.work
        hooks = work.git_dir / "hooks"
        (hooks / "pre-push").unlink()
        previous_hook(hooks / "pre-push", project.tmp / "marker", exit_code=1)
        install(work)
        before = refs(project.remote)["refs/heads/main"]
        work.write("clean.txt", "clean\n")
        work.commit("clean")
        result = project.push("origin", "main")
        assert result.code != 0, result.output
        assert (project.tmp / "marker").exists()
        assert refs(project.remote)["refs/heads/main"] == before

    def test_uninstall_restores_the_previous_hook_byte_for_byte(self, tmp_path: Path) -> None:
        """Uninstall removes keyscan's hooks and puts back exactly what was there, executable."""
        repo = GitRepo.init(tmp_path / "repo")
        hooks = repo.git_dir / "hooks"
        for name in list(hooks.iterdir()):  # git's *.sample files are not part of this
            name.unlink()
        theirs = previous_hook(hooks / "pre-push", tmp_path / "marker")
        mode = (hooks / "pre-push").stat().st_mode
        install(repo, "--pre-push", "--pre-commit")
        result = keyscan_cli(repo.path, "hook", "uninstall")
        assert result.code == 0, result.output
        assert sorted(p.name for p in hooks.iterdir()) == ["pre-push"]
        assert (hooks / "pre-push").read_bytes() == theirs
        assert (hooks / "pre-push").stat().st_mode == mode

    def test_uninstall_leaves_a_foreign_hook_alone(self, tmp_path: Path) -> None:
        """A hook that is not keyscan's is never removed by uninstall."""
        repo = GitRepo.init(tmp_path / "repo")
        theirs = previous_hook(repo.git_dir / "hooks" / "pre-push", tmp_path / "marker")
        result = keyscan_cli(repo.path, "hook", "uninstall", "--pre-push")
        assert result.code == 0, result.output
        assert "not keyscan's" in result.output
        assert (repo.git_dir / "hooks" / "pre-push").read_bytes() == theirs

    def test_core_hooks_path_is_honoured(self, project: Project) -> None:
        """With core.hooksPath set, the hook goes to that folder (and is run from there), and
        uninstall removes it from there."""
        work = project.work
        keyscan_cli(work.path, "hook", "uninstall")
        work.config("core.hooksPath", ".githooks")
        install(work)
        assert (work.path / ".githooks" / "pre-push").is_file()
        assert not (work.git_dir / "hooks" / "pre-push").exists()
        key = keys.key_id()
        work.write("leak.env", credentials(key))
        work.commit("leak")  # .githooks/pre-push is committed too: it is plain text
        assert_refused(project.push("origin", "main"), key, "leak.env")
        result = keyscan_cli(work.path, "hook", "uninstall")
        assert result.code == 0, result.output
        assert not (work.path / ".githooks" / "pre-push").exists()

    def test_install_outside_a_repository_is_an_error(self, tmp_path: Path) -> None:
        """Outside a repository, install exits 2 and says where to run it."""
        folder = tmp_path / "plain"
        folder.mkdir()
        result = keyscan_cli(folder, "hook", "install")
        assert result.code == 2, result.output
        assert "not in a git repository" in result.output

    def test_hook_falls_back_to_keyscan_on_path(self, project: Project) -> None:
        """When the installing Python is gone, the hook runs `keyscan` from PATH; with none,
        it refuses the push and says how to repair it."""
        work = project.work
        hook = work.git_dir / "hooks" / "pre-push"
        gone = str(project.tmp / "gone" / "python")
        hook.write_text(hook.read_text().replace(shlex.quote(sys.executable), gone))
        key = keys.key_id()
        work.write("leak.env", credentials(key))
        work.commit("leak")
        bin_dir = str(Path(sys.executable).parent)
        with_keyscan = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        assert_refused(project.push("origin", "main", env=with_keyscan), key, "leak.env")
        result = project.push("origin", "main", env={"PATH": "/usr/bin:/bin"})
        assert result.code != 0, result.output
        assert "keyscan is not installed any more" in result.output
        assert "refs/heads/main" in refs(project.remote)


# --- suppression in hooks ----------------------------------------------------------------------


class TestSuppressionInHooks:
    def test_baselined_finding_passes(self, project: Project) -> None:
        """After a refusal, `keyscan baseline update` accepts the key: the push then passes
        with the baseline committed, and the baseline holds neither the secret nor the key ID."""
        work = project.work
        key, secret = keys.key_id(), keys.secret_key()
        work.write("tests/fixtures/aws.env", credentials(key, secret, comment="test fixture"))
        work.commit("test fixture")
        assert_refused(project.push("origin", "main"), key, "tests/fixtures/aws.env")

        result = keyscan_cli(work.path, "baseline", "update")
        assert result.code == 0, result.output
        baseline = work.path / ".keyscan-baseline.json"
        text = baseline.read_text()
        assert key not in text and secret not in text
        assert key[4:12] not in text and secret[4:12] not in text
        document = json.loads(text)
        assert len(document["findings"]) == 1
        work.add(".keyscan-baseline.json")
        head = work.commit("accept the test key")
        result = project.push("origin", "main")
        assert_passed(result)
        assert "1 suppressed (1 by baseline" in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_a_new_key_is_refused_despite_the_baseline(self, project: Project) -> None:
        """The baseline accepts the findings it lists, not every finding after it."""
        work = project.work
        work.write("tests/fixtures/aws.env", credentials(keys.key_id()))
        work.commit("test fixture")
        assert keyscan_cli(work.path, "baseline", "create").code == 0
        new = keys.key_id()
        work.write("deploy.env", credentials(new))
        work.commit("deploy settings")
        result = project.push("origin", "main")
        assert_refused(result, new, "deploy.env")
        assert "1 suppressed (1 by baseline" in result.output

    def test_keyscan_allow_line_passes(self, project: Project) -> None:
        """A key on a line marked `keyscan:allow` does not refuse the push; it is counted."""
        work = project.work
        key = keys.key_id()
        work.write("tests/test_auth.py", f'KEY = "{key}"  # keyscan:allow (a test key)\n')
        head = work.commit("test with a sample key")
        result = project.push("origin", "main")
        assert_passed(result)
        assert "1 suppressed (1 by keyscan:allow" in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_allowed_key_leaking_elsewhere_is_refused(self, project: Project) -> None:
        """A key allowed on one line but also present on an unmarked line is refused, and
        the report lists only the unmarked place."""
        work = project.work
        key = keys.key_id()
        work.write("tests/test_auth.py", f'KEY = "{key}"  # keyscan:allow\n')
        text = credentials(key)
        work.write("deploy/prod.env", text)
        work.commit("oops")
        result = project.push("origin", "main")
        assert_refused(result, key, at("deploy/prod.env", text, key))
        assert "tests/test_auth.py" not in result.output

    def test_corrupt_baseline_stops_the_push_with_a_clear_error(self, project: Project) -> None:
        """A baseline that cannot be read is an error (exit 2), not a pass: the push stops and
        the message says how to repair the file."""
        work = project.work
        (work.path / ".keyscan-baseline.json").write_text("{not json")
        work.write("clean.txt", "clean\n")
        before = refs(project.remote)["refs/heads/main"]
        work.git("add", "clean.txt")
        work.git("commit", "-q", "-m", "clean")
        result = project.push("origin", "main")
        assert result.code != 0, result.output
        assert "keyscan: error: cannot read the baseline" in result.output
        assert "keyscan baseline create --force" in result.output
        assert refs(project.remote)["refs/heads/main"] == before

    def test_config_exclude_paths_apply_to_the_hook(self, project: Project) -> None:
        """The repository's .keyscan.toml is read by the hook: a key only in an excluded
        folder passes, counted as suppressed."""
        work = project.work
        work.write(".keyscan.toml", 'exclude-paths = ["tests/fixtures/"]\n')
        work.write("tests/fixtures/aws.env", credentials(keys.key_id()))
        head = work.commit("fixtures")
        result = project.push("origin", "main")
        assert_passed(result)
        assert "1 suppressed (1 by excluded path" in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_fail_on_from_config_applies_to_the_hook(self, project: Project) -> None:
        """`fail-on = "critical"` lets a lone key ID (high) through, still reported."""
        work = project.work
        key = keys.key_id()
        work.write(".keyscan.toml", 'fail-on = "critical"\n')
        work.write("lone.env", credentials(key))
        head = work.commit("a lone key ID")
        result = project.push("origin", "main")
        assert_passed(result)
        assert key in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_allow_list_in_pyproject_applies_to_the_hook(self, project: Project) -> None:
        """An `allow` entry in [tool.keyscan] of pyproject.toml lets the push through, counted."""
        work = project.work
        key = keys.key_id()
        work.write("pyproject.toml", f'[tool.keyscan]\nallow = ["{key}"]\n')
        work.write("lone.env", credentials(key))
        head = work.commit("an allowed key")
        result = project.push("origin", "main")
        assert_passed(result)
        assert "by allow-list" in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_baseline_named_in_the_config_applies_to_the_hook(self, project: Project) -> None:
        """The hook reads the baseline where the config's `baseline` puts it."""
        work = project.work
        key = keys.key_id()
        work.write("lone.env", credentials(key))
        work.commit("a test key")
        (work.path / "ci").mkdir()
        result = keyscan_cli(work.path, "baseline", "create", "--output", "ci/baseline.json")
        assert result.code == 0, result.output
        work.write(".keyscan.toml", 'baseline = "ci/baseline.json"\n')
        head = work.commit("baseline")
        result = project.push("origin", "main")
        assert_passed(result)
        assert "1 suppressed (1 by baseline" in result.output
        assert refs(project.remote)["refs/heads/main"] == head

    def test_bad_config_stops_the_push_with_an_error(self, project: Project) -> None:
        """A settings file with an unknown key is an error in the hook too: the push stops,
        and the message names the key."""
        work = project.work
        before = refs(project.remote)["refs/heads/main"]
        work.write(".keyscan.toml", 'exclude_paths = ["tests/"]\n')
        work.commit("settings")
        result = project.push("origin", "main")
        assert result.code != 0, result.output
        assert "keyscan: error: unknown key 'exclude_paths'" in result.output
        assert refs(project.remote)["refs/heads/main"] == before


# --- pre-commit: what a commit records ---------------------------------------------------------


@pytest.fixture
def committer(tmp_path: Path, templates: Path) -> GitRepo:
    """A repository with one commit and keyscan's pre-commit hook."""
    return copy_template(templates, "committer", tmp_path / "repo")


class TestPreCommit:
    def test_staged_key_is_refused_until_unstaged(self, committer: GitRepo) -> None:
        """A commit with a staged key is refused (key ID, path and line named, advice given);
        after `git restore --staged` the rest is committed."""
        head = committer.rev("HEAD")
        key = keys.key_id()
        text = credentials(key)
        committer.write("deploy.env", text)
        committer.write("src/app.py", "print('hello')\n")
        committer.git("add", "deploy.env", "src/app.py")
        result = commit(committer)
        assert result.code == 1, result.output
        assert COMMIT_REFUSED in result.output
        assert key in result.output
        assert at("deploy.env", text, key) in result.output
        assert "git commit --no-verify" in result.output
        assert committer.rev("HEAD") == head

        committer.git("restore", "--staged", "deploy.env")
        result = commit(committer)
        assert result.code == 0, result.output
        assert committer.git("show", "--name-only", "--format=", "HEAD") == "src/app.py"

    def test_key_only_in_the_work_tree_does_not_block(self, committer: GitRepo) -> None:
        """The hook scans the index: a key in a tracked file that is not staged is not part
        of the commit and does not refuse it."""
        committer.write("settings.ini", credentials(keys.key_id()))
        committer.write("src/app.py", "print('hello')\n")
        committer.git("add", "src/app.py")
        result = commit(committer)
        assert result.code == 0, result.output
        assert committer.git("show", "--name-only", "--format=", "HEAD") == "src/app.py"

    def test_staged_key_removed_from_the_work_tree_still_blocks(self, committer: GitRepo) -> None:
        """What counts is what is staged: a key staged then deleted from the file (not
        restaged) still refuses the commit."""
        key = keys.key_id()
        committer.write("settings.ini", credentials(key))
        committer.git("add", "settings.ini")
        committer.write("settings.ini", "[main]\nregion = eu-west-2\n")
        result = commit(committer)
        assert result.code == 1, result.output
        assert key in result.output and "settings.ini" in result.output

    def test_commit_all_with_key_in_a_tracked_file_is_refused(self, committer: GitRepo) -> None:
        """`git commit -a` stages into a temporary index that git names in GIT_INDEX_FILE:
        the key in the modified tracked file is found there and the commit refused."""
        head = committer.rev("HEAD")
        key = keys.key_id()
        text = credentials(key)
        committer.write("settings.ini", text)
        result = commit(committer, "-a")
        assert result.code == 1, result.output
        assert COMMIT_REFUSED in result.output
        assert at("settings.ini", text, key) in result.output
        assert committer.rev("HEAD") == head

    def test_commit_of_named_files_uses_their_temporary_index(self, committer: GitRepo) -> None:
        """`git commit FILE` commits FILE only, through a temporary index: a key in another
        modified file does not block it, a key in FILE does."""
        key = keys.key_id()
        committer.write("settings.ini", credentials(key))
        committer.write("README.md", "# project, changed\n")
        result = commit(committer, "README.md")
        assert result.code == 0, result.output
        result = commit(committer, "settings.ini")
        assert result.code == 1, result.output
        assert key in result.output and "settings.ini" in result.output

    def test_large_file_staged_at_two_paths(self, committer: GitRepo) -> None:
        """A staged file larger than one read chunk (16 MiB), at two paths: the key near its
        end is found at both, on the right line."""
        key = keys.key_id()
        filler = "".join(f"line {i:08d} of padding for the scanner\n" for i in range(440_000))
        text = filler + credentials(key)
        assert len(text) > 17 * 1024 * 1024
        committer.write("big/a.txt", text)
        committer.write("big/b.txt", text)
        committer.git("add", "big")
        result = commit(committer)
        assert result.code == 1, result.output
        assert at("big/a.txt", text, key) in result.output
        assert at("big/b.txt", text, key) in result.output

    def test_clean_commit_passes(self, committer: GitRepo) -> None:
        """A commit of clean staged changes goes through and reports nothing."""
        committer.write("src/app.py", "print('hello')\n")
        committer.git("add", "src/app.py")
        result = commit(committer)
        assert result.code == 0, result.output
        assert "finding" not in result.output

    def test_first_commit_of_a_repository_is_scanned(self, tmp_path: Path) -> None:
        """With no HEAD yet, everything staged is new, and a key in it refuses the commit."""
        repo = GitRepo.init(tmp_path / "fresh")
        install(repo, "--pre-commit")
        key = keys.key_id()
        repo.write("aws.env", credentials(key))
        repo.git("add", "aws.env")
        result = commit(repo)
        assert result.code == 1, result.output
        assert key in result.output
        assert repo.git("rev-parse", "--verify", "-q", "HEAD", check=False) == ""

    def test_commit_with_git_dir_from_another_folder(self, committer: GitRepo) -> None:
        """`git --git-dir=… --work-tree=… commit` from outside the repository: the hook reads
        that repository's index."""
        key = keys.key_id()
        committer.write("deploy.env", credentials(key))
        committer.git("add", "deploy.env")
        outside = committer.path.parent
        options = (f"--git-dir={committer.git_dir}", f"--work-tree={committer.path}")
        result = git_command(outside, *options, "commit", "-q", "-m", "leak")
        assert result.code == 1, result.output
        assert key in result.output and "deploy.env" in result.output
        committer.git("restore", "--staged", "deploy.env")
        committer.write("src/app.py", "print('hello')\n")
        committer.git("add", "src/app.py")
        result = git_command(outside, *options, "commit", "-q", "-m", "clean")
        assert result.code == 0, result.output

    def test_keyscan_allow_in_staged_line_passes(self, committer: GitRepo) -> None:
        """A staged key marked `keyscan:allow` is committed, and counted as suppressed."""
        committer.write("tests/test_auth.py", f'KEY = "{keys.key_id()}"  # keyscan:allow\n')
        committer.git("add", "tests/test_auth.py")
        result = commit(committer)
        assert result.code == 0, result.output
        assert "1 suppressed (1 by keyscan:allow" in result.output


# --- the pre-commit framework ---------------------------------------------------------------


def framework_hooks() -> dict[str, dict[str, object]]:
    """.pre-commit-hooks.yaml, read as the framework reads it."""
    with open(REPO / ".pre-commit-hooks.yaml", encoding="utf-8") as handle:
        hooks = yaml.safe_load(handle)
    return {hook["id"]: hook for hook in hooks}


def run_entry(
    hook_id: str, repo: GitRepo, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a hook's `entry` as the framework does: split with shlex, the executable taken
    from the hook's (here: this) virtual environment, in the repository's top folder, with no
    file names (pass_filenames is false) and the framework's stdin (already read: empty)."""
    hook = framework_hooks()[hook_id]
    argv = shlex.split(str(hook["entry"]))
    executable = Path(sys.executable).parent / argv[0]
    assert executable.is_file(), f"{argv[0]} is not installed next to {sys.executable}"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRE_COMMIT")}
    full_env.update(PRE_COMMIT="1", **(env or {}))
    return subprocess.run(
        [str(executable), *argv[1:]],
        cwd=repo.path, env=full_env, input=b"", capture_output=True, check=False, timeout=120,
    )  # fmt: skip


def framework_push_env(
    repo: GitRepo, remote: str, local_ref: str, remote_ref: str
) -> dict[str, str]:
    """The PRE_COMMIT_* variables the framework (pre_commit/commands/hook_impl.py,
    `_pre_push_ns`, and run.py) gives a pre-push hook for a push of `local_ref`."""
    local_sha = repo.rev(local_ref)
    tracking = f"refs/remotes/{remote}/{remote_ref.removeprefix('refs/heads/')}"
    remote_sha = repo.git("rev-parse", "--verify", "-q", tracking, check=False) or ZERO
    url = repo.git("remote", "get-url", remote)
    names = {
        "PRE_COMMIT_LOCAL_BRANCH": local_ref,
        "PRE_COMMIT_REMOTE_BRANCH": remote_ref,
        "PRE_COMMIT_REMOTE_NAME": remote,
        "PRE_COMMIT_REMOTE_URL": url,
    }
    exists = git_command(repo.path, "cat-file", "-e", f"{remote_sha}^{{commit}}").code == 0
    if remote_sha != ZERO and exists and _is_ancestor(repo, remote_sha, local_sha):
        return {**names, "PRE_COMMIT_FROM_REF": remote_sha, "PRE_COMMIT_TO_REF": local_sha}
    ancestors = repo.git(
        "rev-list", local_sha, "--topo-order", "--reverse", "--not", f"--remotes={remote}"
    ).splitlines()
    assert ancestors, "nothing to push: the framework would not run the hook"
    roots = set(repo.git("rev-list", "--max-parents=0", local_sha).splitlines())
    if ancestors[0] in roots:
        return names  # all_files: no from/to ref
    source = repo.rev(f"{ancestors[0]}^")
    return {**names, "PRE_COMMIT_FROM_REF": source, "PRE_COMMIT_TO_REF": local_sha}


def _is_ancestor(repo: GitRepo, ancestor: str, rev: str) -> bool:
    proc = git_command(repo.path, "merge-base", "--is-ancestor", ancestor, rev)
    return proc.code == 0


class TestPreCommitFramework:
    def test_hook_definitions(self) -> None:
        """Both hooks are python hooks that take no file names and always run, one per stage,
        and their entries are commands keyscan has."""
        hooks = framework_hooks()
        assert set(hooks) == {"keyscan", "keyscan-pre-push"}
        for hook in hooks.values():
            assert hook["language"] == "python"
            assert hook["pass_filenames"] is False
            assert hook["always_run"] is True
        assert hooks["keyscan"]["stages"] == ["pre-commit"]
        assert hooks["keyscan-pre-push"]["stages"] == ["pre-push"]
        assert hooks["keyscan"]["entry"] == "keyscan hook pre-commit"
        assert hooks["keyscan-pre-push"]["entry"] == "keyscan hook pre-push"

    def test_pre_commit_stage(self, committer: GitRepo) -> None:
        """The pre-commit entry refuses a staged key (exit 1) and passes once it is unstaged,
        even with the key still in the work tree."""
        key = keys.key_id()
        committer.write("deploy.env", credentials(key))
        committer.git("add", "deploy.env")
        result = run_entry("keyscan", committer)
        stderr = result.stderr.decode()
        assert result.returncode == 1, stderr
        assert key in stderr and "deploy.env" in stderr and COMMIT_REFUSED in stderr
        committer.git("restore", "--staged", "deploy.env")
        result = run_entry("keyscan", committer)
        assert result.returncode == 0, result.stderr.decode()

    def test_pre_push_stage_fast_forward(self, project: Project) -> None:
        """A push onto a branch the remote has (from = the remote's commit): a key in any of
        the pushed commits is refused; clean commits pass."""
        work = project.work
        key = keys.key_id()
        text = credentials(key)
        work.write("leak.env", text)
        leak = work.commit("leak")
        work.remove("leak.env")
        work.commit("unleak")
        env = framework_push_env(work, "origin", "refs/heads/main", "refs/heads/main")
        assert env["PRE_COMMIT_FROM_REF"] == work.rev("origin/main")
        result = run_entry("keyscan-pre-push", work, env)
        stderr = result.stderr.decode()
        assert result.returncode == 1, stderr
        assert at("leak.env", text, key) in stderr and f"commit {leak[:12]}" in stderr
        assert PUSH_REFUSED in stderr

        work.git("reset", "-q", "--hard", "origin/main")
        work.write("clean.txt", "clean\n")
        work.commit("clean")
        env = framework_push_env(work, "origin", "refs/heads/main", "refs/heads/main")
        result = run_entry("keyscan-pre-push", work, env)
        assert result.returncode == 0, result.stderr.decode()

    def test_pre_push_stage_new_branch(self, project: Project) -> None:
        """A new branch (from = the parent of its first commit the remote lacks): its key is
        refused, while a key the remote's main already holds does not count."""
        work = project.work
        work.write("old.env", credentials(keys.key_id()))
        work.commit("an old leak")
        project.bypass("origin", "main")
        work.checkout("feature", "-b")
        work.write("feature.txt", "clean\n")
        first = work.commit("feature, clean")
        env = framework_push_env(work, "origin", "refs/heads/feature", "refs/heads/feature")
        assert env["PRE_COMMIT_FROM_REF"] == work.rev(f"{first}^")
        result = run_entry("keyscan-pre-push", work, env)
        assert result.returncode == 0, result.stderr.decode()

        key = keys.key_id()
        work.write("feature.env", credentials(key))
        work.commit("feature, leaky")
        env = framework_push_env(work, "origin", "refs/heads/feature", "refs/heads/feature")
        result = run_entry("keyscan-pre-push", work, env)
        stderr = result.stderr.decode()
        assert result.returncode == 1, stderr
        assert key in stderr and "feature.env" in stderr
        assert "old.env" not in stderr

    def test_pre_push_stage_root_commit(self, tmp_path: Path) -> None:
        """A first push to an empty remote (the framework passes no from/to ref, only the
        local branch): the whole branch is scanned."""
        remote = GitRepo.init(tmp_path / "remote.git", bare=True)
        work = GitRepo.clone(remote, tmp_path / "work")
        work.write("README.md", "# project\n")
        work.commit("initial")
        env = framework_push_env(work, "origin", "refs/heads/main", "refs/heads/main")
        assert "PRE_COMMIT_FROM_REF" not in env and "PRE_COMMIT_TO_REF" not in env
        result = run_entry("keyscan-pre-push", work, env)
        assert result.returncode == 0, result.stderr.decode()

        key = keys.key_id()
        work.write("aws.env", credentials(key))
        work.commit("leak")
        env = framework_push_env(work, "origin", "refs/heads/main", "refs/heads/main")
        result = run_entry("keyscan-pre-push", work, env)
        stderr = result.stderr.decode()
        assert result.returncode == 1, stderr
        assert key in stderr and "aws.env" in stderr


def test_new_branch_pushed_to_the_remote_url(project: Project) -> None:
    """`git push URL newbranch`, URL being origin's: a key origin's main already holds (pushed
    past the hook) should not refuse a clean new branch."""
    work = project.work
    work.write("old.env", credentials(keys.key_id()))
    work.commit("an old leak")
    project.bypass("origin", "main")
    work.checkout("feature", "-b")
    work.write("f.txt", "clean\n")
    head = work.commit("clean")
    assert_passed(project.push(f"file://{project.remote.path}", "feature"))
    assert refs(project.remote)["refs/heads/feature"] == head
