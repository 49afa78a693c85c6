"""Decoding in git history: archives, compressed files and encodings inside committed blobs,
found at their commit and path, with the steps that reached them."""

from __future__ import annotations

import gzip

import pytest
from gitrepo import EMAIL, NAME, GitRepo
from test_decode import ENGINES, creds, ini, k8s_secret, scan_json, yaml_in_tar_gz


def git_places(report: dict) -> list[tuple]:
    """(path, commit, line, column, decoded, reachable) of every git location."""
    return [
        (loc["path"], loc["commit"], loc["line"], loc["column"], loc["decoded"], loc["reachable"])
        for f in report["findings"]
        for loc in f["locations"]
        if loc["source"] == "git"
    ]


class TestHistory:
    @pytest.mark.parametrize("engine", ENGINES)
    def test_base64_in_yaml_in_tar_gz_in_a_deleted_commit(self, repo: GitRepo, engine: str) -> None:
        """The issue's case: a base64 value inside a YAML file inside a tar.gz inside a commit
        (deleted since) is found at that commit, with every step."""
        c = creds()
        case = yaml_in_tar_gz(c)
        repo.write("deploy/bundle.tar.gz", case.data)
        commit = repo.commit("add the deploy bundle")
        repo.remove("deploy/bundle.tar.gz")
        repo.commit("remove it")
        code, report, _, stderr = scan_json("--engine", engine, str(repo.path))
        assert code == 1, stderr
        (found,) = report["findings"]
        assert (found["kind"], found["key_id"]) == ("access_key_pair", c.key)
        ((loc,),) = [found["locations"]]
        assert (loc["kind"], loc["author"], loc["email"], loc["date"]) == (
            "blob", NAME, EMAIL, repo.dates[commit],
        )  # fmt: skip
        assert git_places(report) == [
            ("deploy/bundle.tar.gz", commit, case.line, case.column, case.decoded, True)
        ]

    def test_kubernetes_secret_in_history_and_work_tree(self, repo: GitRepo) -> None:
        """A base64'd key pair in a committed manifest is one finding: its blob in history
        (base64), and the same file in the work tree, both with their steps."""
        c = creds()
        case = k8s_secret(c)
        repo.write("k8s/secret.yaml", case.data)
        commit = repo.commit("add secret")
        repo.write("k8s/secret.yaml", case.data + b"# edited\n")  # an uncommitted edit
        code, report, _, _ = scan_json(str(repo.path))
        assert code == 1
        (found,) = report["findings"]
        assert found["key_id"] == c.key
        assert git_places(report) == [
            ("k8s/secret.yaml", commit, case.line, case.column, ["base64"], True)
        ]
        files = [loc for loc in found["locations"] if loc["source"] == "file"]
        assert [(loc["line"], loc["column"], loc["decoded"]) for loc in files] == [
            (case.line, case.column, ["base64"])
        ]

    def test_gzip_dangling_blob_is_unreachable(self, repo: GitRepo) -> None:
        """A gzip'd credentials file written to the object database but never committed is
        found, unreachable, with its gzip step."""
        c = creds()
        repo.hash_object(gzip.compress(ini(c).encode()))
        code, report, _, _ = scan_json(str(repo.path))
        assert code == 1
        assert git_places(report) == [(None, None, 2, 21, ["gzip"], False)]

    def test_plain_key_in_history_is_not_duplicated(self, repo: GitRepo) -> None:
        """A plain credentials file in a commit is one location with no steps, as before."""
        c = creds()
        repo.write("creds.ini", ini(c))
        commit = repo.commit("oops")
        repo.remove("creds.ini")
        repo.commit("fix")
        code, report, _, _ = scan_json(str(repo.path))
        assert code == 1
        assert git_places(report) == [("creds.ini", commit, 2, 21, [], True)]

    def test_no_decode_skips_history_decoding(self, repo: GitRepo) -> None:
        """--no-decode: a gzip'd key in history is not found."""
        repo.write("creds.ini.gz", gzip.compress(ini(creds()).encode()))
        repo.commit("add")
        code, report, _, _ = scan_json("--no-decode", "--no-worktree", str(repo.path))
        assert (code, report["findings"]) == (0, [])
