"""Packed objects rebuilt in keyscan's own process (keyscan/sources/pack.py), checked against
git itself, and the history scans that use them."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import keys
import pytest
from conftest import comparable, key_ids, scan_json
from gitrepo import GitRepo, run_git
from test_history import env_text, rich_history

import keyscan.history
from keyscan.rules import load_rules
from keyscan.scan import ScanOptions
from keyscan.sources import pack


def edited_file_history(repo: GitRepo, versions: int = 30) -> dict[str, str]:
    """One long file edited many times (long delta chains once packed), each version with a
    key of its own on a different line; returns key ID by blob ID."""
    rng = random.Random(7)
    lines = [f"line {n} {rng.getrandbits(64):016x}\n" for n in range(400)]
    by_blob = {}
    for version in range(versions):
        key = keys.key_id()
        lines[rng.randrange(len(lines))] = f"aws_access_key_id = {key}\n"
        text = "".join(lines)
        repo.write("settings/app.cfg", text)
        repo.commit(f"version {version}")
        by_blob[repo.git("hash-object", "--stdin", input=text.encode())] = key
    return by_blob


def listed(repo: GitRepo) -> dict[str, str]:
    """Object type by object ID, for every object git lists."""
    rows = repo.git("cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname)")
    return {oid: kind for kind, oid in (row.split() for row in rows.splitlines())}


def rebuild_all(
    repo: GitRepo, share_bytes: int = 4096, whole: int = 1 << 24, hash_size: int = 20
) -> Any:
    """Every object the pack reader rebuilds (ID -> (type, content)), and what it leaves."""
    packs = pack.open_packs(str(repo.git_dir), hash_size)
    assert packs
    reader = pack.PackReader(packs)
    rebuilt: dict[str, tuple[str, bytes]] = {}
    left: list[bytes] = []
    for share in pack.shares(packs, share_bytes):
        for oid, kind, content in reader.read(share, whole, left):
            rebuilt[oid.decode()] = (kind.decode(), content)
    reader.close()
    return rebuilt, [oid.decode() for oid in left]


def pack_entries(repo: GitRepo, idx: Path) -> dict[str, list[str]]:
    """`git verify-pack -v` of one pack, by object ID: type, size, size in the pack, offset,
    and for a delta its depth and base."""
    rows = (row.split() for row in repo.git("verify-pack", "-v", str(idx)).splitlines())
    return {fields[0]: fields[1:] for fields in rows if len(fields) >= 5 and len(fields[0]) == 40}


def deltas(repo: GitRepo) -> int:
    """How many entries of the repository's packs are deltas."""
    return sum(
        len(entry) == 6
        for idx in (repo.git_dir / "objects" / "pack").glob("*.idx")
        for entry in pack_entries(repo, idx).values()
    )


class TestPackReader:
    def test_every_packed_blob_and_commit_is_rebuilt_as_git_stores_it(self, repo: GitRepo) -> None:
        """Every blob, commit and tag of a packed repository with long delta chains is rebuilt
        byte for byte (its object ID is the hash of what was rebuilt); trees are skipped."""
        edited_file_history(repo)
        rich_history(repo)
        repo.write("data.bin", os.urandom(50_000))
        repo.commit("binary")
        repo.git("gc", "-q", "--aggressive", "--prune=now")
        assert deltas(repo) >= 20
        rebuilt, left = rebuild_all(repo)
        assert left == []
        for oid, (kind, content) in rebuilt.items():
            stored = f"{kind} {len(content)}\0".encode() + content
            assert hashlib.sha1(stored).hexdigest() == oid
        expected = {oid for oid, kind in listed(repo).items() if kind != "tree"}
        assert set(rebuilt) == expected

    def test_sha256_repository_is_rebuilt_and_scanned(self, tmp_path: Path) -> None:
        """In a SHA-256 repository (32-byte names in the index) every packed object is
        rebuilt as stored, and the keys of every version are found."""
        path = tmp_path / "repo"
        path.mkdir()
        run_git(path, "init", "-q", "--object-format=sha256")
        repo = GitRepo(path)
        by_blob = edited_file_history(repo, versions=6)
        repo.git("gc", "-q", "--prune=now")
        rebuilt, left = rebuild_all(repo, hash_size=32)
        assert left == [] and set(by_blob) <= set(rebuilt)
        for oid, (kind, content) in rebuilt.items():
            stored = f"{kind} {len(content)}\0".encode() + content
            assert hashlib.sha256(stored).hexdigest() == oid
        code, report, stderr = scan_json("--no-worktree", str(repo.path))
        assert code == 1, stderr
        assert key_ids(report) == set(by_blob.values())
        assert "warning" not in stderr

    def test_named_base_deltas_are_left_to_cat_file_and_still_scanned(self, repo: GitRepo) -> None:
        """Deltas whose base is named rather than placed (REF_DELTA) are left to cat-file,
        and the scan still finds the key of every version."""
        by_blob = edited_file_history(repo)
        repo.git("-c", "repack.useDeltaBaseOffset=false", "repack", "-a", "-d", "-f", "-q")
        rebuilt, left = rebuild_all(repo)
        assert set(by_blob) & set(left), "some versions are named-base deltas"
        expected = {oid for oid, kind in listed(repo).items() if kind != "tree"}
        assert set(rebuilt) | set(left) == expected
        code, report, stderr = scan_json(str(repo.path))
        assert code == 1, stderr
        assert key_ids(report) == set(by_blob.values())
        assert "warning" not in stderr

    def test_objects_larger_than_whole_are_left_to_cat_file(self, repo: GitRepo) -> None:
        """An object larger than the reader may hold (plain or a delta's result) is left to
        cat-file, which streams it; smaller ones are rebuilt."""
        by_blob = edited_file_history(repo, versions=5)
        repo.git("repack", "-a", "-d", "-f", "-q")
        smallest = min(int(repo.git("cat-file", "-s", oid)) for oid in by_blob)
        rebuilt, left = rebuild_all(repo, whole=smallest - 1)
        assert set(by_blob) <= set(left)
        assert not set(by_blob) & set(rebuilt)
        assert any(kind == "commit" for kind, _ in rebuilt.values())

    def test_a_pack_gone_since_the_listing_is_a_warning(self, repo: GitRepo) -> None:
        """A share of a pack the worker cannot find (repacked away meanwhile) gives a warning
        that says what to do, not a crash."""
        edited_file_history(repo, versions=3)
        repo.git("repack", "-a", "-d", "-q")
        packs = pack.open_packs(str(repo.git_dir), 20)
        assert packs
        [share, *_] = pack.shares(packs, 1 << 20)
        git_repo = keyscan.history.git.open_repo(str(repo.path))
        assert git_repo is not None
        hits, warnings, failed = keyscan.history._scan_share(
            git_repo, share, 20, load_rules(), ScanOptions(), reader=pack.PackReader([])
        )
        assert hits == [] and failed == []
        [warning] = warnings
        assert share.path in warning and "scan again" in warning


class TestPackedScans:
    def test_parallel_shares_give_the_same_findings_as_cat_file(
        self, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two workers over many shares of a pack, one process, and the cat-file path give
        the same findings, locations and provenance."""
        expected = set(rich_history(repo).values())
        expected |= set(edited_file_history(repo, versions=8).values())
        repo.git("repack", "-a", "-d", "-q")
        repo.write("loose.env", env_text(loose := keys.key_id()))
        repo.commit("after the repack: loose objects")
        expected.add(loose)
        monkeypatch.setattr(keyscan.history, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(keyscan.history, "SHARE_BYTES", 2048)
        shares: list[pack.Share] = []
        real_shares = pack.shares

        def recording_shares(packs: Any, size: int) -> Any:
            for share in real_shares(packs, size):
                shares.append(share)
                yield share

        monkeypatch.setattr(pack, "shares", recording_shares)
        code, serial, _ = scan_json("--jobs", "1", str(repo.path))
        assert code == 1
        assert key_ids(serial) == expected
        code, parallel, _ = scan_json("--jobs", "2", str(repo.path))
        assert code == 1
        assert len(shares) > 4, "both scans went through the pack reader, in many shares"
        monkeypatch.setattr(keyscan.history, "_open_packs", lambda *_: None)
        code, piped, _ = scan_json("--jobs", "2", str(repo.path))
        assert code == 1
        assert comparable(parallel) == comparable(serial) == comparable(piped)

    def test_damaged_packed_object_warns_and_the_scan_goes_on(self, tmp_path: Path) -> None:
        """A packed blob whose data is damaged is left to cat-file, which cannot read it
        either: a warning names it, and every other key is still found."""
        repo = GitRepo.init(tmp_path / "repo")
        by_blob: dict[str, str] = {}
        for n in range(6):
            key = keys.key_id()
            text = env_text(key) + os.urandom(12_000).hex() + "\n"  # stays large when packed
            repo.write(f"f{n}.env", text)
            by_blob[repo.git("hash-object", "--stdin", input=text.encode())] = key
        repo.commit("six keys")
        repo.git("repack", "-a", "-d", "-q")
        [idx] = (repo.git_dir / "objects" / "pack").glob("*.idx")
        entries = pack_entries(repo, idx)
        victim = next(oid for oid in entries if oid in by_blob)
        size, offset = int(entries[victim][2]), int(entries[victim][3])  # size in pack, offset
        pack_file = idx.with_suffix(".pack")
        pack_file.chmod(0o644)
        with open(pack_file, "r+b") as handle:
            handle.seek(offset + size // 2)
            handle.write(b"\0" * 64)
        code, report, stderr = scan_json("--no-worktree", str(repo.path))
        assert code == 1, stderr
        assert "warning" in stderr and victim in stderr
        assert key_ids(report) == set(by_blob.values()) - {by_blob[victim]}
