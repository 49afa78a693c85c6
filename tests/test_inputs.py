"""Awkward input gets a clear answer: binary and media files, encodings, huge and chunked
files, special files, symlinks, .git folders and files that vanish mid-scan.

Expected line and column numbers are computed from the bytes written, never from keyscan.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keys
import pytest
from conftest import run_cli, run_keyscan

from keyscan.sources import files


def scan_json(*args: str, input: bytes | str | None = None) -> tuple[int, dict[str, Any], str]:
    """Run `keyscan scan -f json ARGS` in-process: exit code, report, standard error."""
    result = run_cli("scan", "-f", "json", *args, input=input)
    report = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, report, result.stderr


def places(report: dict[str, Any], key_id: str) -> list[tuple[str | None, int, int]]:
    """Every (path, line, column) reported for the credential with this key ID."""
    return [
        (loc["path"], loc["line"], loc["column"])
        for f in report["findings"]
        if f["key_id"] == key_id
        for loc in f["locations"]
    ]


def where(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes, for ASCII lines) of `offset` in `data`."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


class TestBinaryAndMedia:
    def test_key_in_random_binary_is_found(self, tmp_path: Path) -> None:
        """A key ID among random bytes (a binary, a core dump) is found at the right line."""
        key = keys.key_id()
        rng = random.Random(1234)
        head, tail = rng.randbytes(50_000), rng.randbytes(50_000)
        data = head + b"\x00" + key.encode() + b"\x00" + tail
        path = tmp_path / "blob.bin"
        path.write_bytes(data)
        code, report, _ = scan_json(str(path))
        assert code == 1
        line, _ = where(data, len(head) + 1)
        assert [(p, ln) for p, ln, _ in places(report, key)] == [(str(path), line)]

    @pytest.mark.parametrize(
        "magic",
        [
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
            b"GIF89a\x01\x00\x01\x00",
            b"RIFF\x00\x00\x00\x00WEBPVP8 ",
            b"\x00\x00\x00\x18ftypmp42",
        ],
        ids=["png", "jpeg", "gif", "webp", "mp4"],
    )
    def test_media_files_are_skipped(self, tmp_path: Path, magic: bytes) -> None:
        """A media file is not scanned, even with a key in its metadata."""
        (tmp_path / "image.bin").write_bytes(magic + b"\ntEXt " + keys.key_id().encode() + b"\n")
        code, report, _ = scan_json(str(tmp_path))
        assert code == 0
        assert report["findings"] == []

    def test_text_starting_like_no_media_is_scanned(self, tmp_path: Path) -> None:
        """A text file that merely mentions PNG is scanned normally."""
        key = keys.key_id()
        (tmp_path / "notes.txt").write_text(f"PNG export key: {key}\n")
        code, report, _ = scan_json(str(tmp_path))
        assert code == 1
        assert places(report, key) == [(str(tmp_path / "notes.txt"), 1, 17)]

    def test_invalid_utf8_around_a_key(self, tmp_path: Path) -> None:
        """Invalid UTF-8 around a key neither hides it nor breaks the (valid UTF-8) report."""
        key = keys.key_id()
        before, after = b"\xc3\x28\xa0\xa1 garbage \xf0\x28\x8c\x28\n", b" \xfe\xfe\xc0\xaf\n"
        data = before + key.encode() + after
        (tmp_path / "bad.txt").write_bytes(data)
        result = run_cli("scan", "-f", "json", str(tmp_path))
        assert result.exit_code == 1
        result.stdout_bytes.decode("utf-8")  # strict: the report itself is valid UTF-8
        assert places(json.loads(result.stdout), key) == [(str(tmp_path / "bad.txt"), 2, 1)]

    def test_column_counts_invalid_bytes_as_one_character_each(self, tmp_path: Path) -> None:
        """Each undecodable byte before a key on its line counts as one column."""
        key = keys.key_id()
        (tmp_path / "bad.txt").write_bytes(b"\xff\xa0 \xc3\xa9 " + key.encode() + b"\n")
        _, report, _ = scan_json(str(tmp_path))
        # \xff, \xa0 (2), space, é (1 character in 2 bytes), space: the key is character 6.
        assert places(report, key) == [(str(tmp_path / "bad.txt"), 1, 6)]

    def test_undecodable_file_name(self, tmp_path: Path) -> None:
        """A file whose name is not UTF-8 is scanned and shown with a replacement character."""
        key = keys.key_id()
        name = os.fsdecode(b"caf\xe9-\xff.txt")
        (tmp_path / name).write_text(f"{key}\n")
        result = run_cli("scan", "-f", "json", str(tmp_path))
        assert result.exit_code == 1
        result.stdout_bytes.decode("utf-8")
        (path,) = [p for p, _, _ in places(json.loads(result.stdout), key)]
        assert path == f"{tmp_path}/caf\ufffd-\ufffd.txt"


class TestEncodings:
    @pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
    def test_utf16_with_bom(self, tmp_path: Path, codec: str) -> None:
        """UTF-16 text (LE or BE, with a BOM) is decoded: the pair is found at its line, column."""
        key, secret = keys.key_id(), keys.secret_key()
        text = f"[default]\r\naws_access_key_id = {key}\r\naws_secret_access_key = {secret}\r\n"
        path = tmp_path / "credentials"
        path.write_bytes("\ufeff".encode(codec) + text.encode(codec))
        code, report, _ = scan_json("--show-secrets", str(path))
        assert code == 1
        (finding,) = report["findings"]
        assert (finding["kind"], finding["key_id"], finding["secret"]) == (
            "access_key_pair",
            key,
            secret,
        )
        assert places(report, key) == [(str(path), 2, 21)]

    def test_crlf_line_endings(self, tmp_path: Path) -> None:
        """CRLF files give the same lines and columns as LF, and no \\r in the secret."""
        key, secret = keys.key_id(), keys.secret_key()
        text = f"# config\r\n\r\naws_access_key_id = {key}\r\naws_secret_access_key = {secret}\r\n"
        (tmp_path / "crlf.ini").write_bytes(text.encode())
        code, report, _ = scan_json("--show-secrets", str(tmp_path))
        assert code == 1
        (finding,) = report["findings"]
        assert finding["secret"] == secret
        assert places(report, key) == [(str(tmp_path / "crlf.ini"), 3, 21)]

    def test_crlf_lone_key_at_end_of_line(self, tmp_path: Path) -> None:
        """A key ID right before \\r\\n is found whole, on its own line."""
        key = keys.key_id()
        (tmp_path / "k.txt").write_bytes(b"a\r\nid=" + key.encode() + b"\r\nb\r\n")
        _, report, _ = scan_json(str(tmp_path))
        assert places(report, key) == [(str(tmp_path / "k.txt"), 2, 4)]


class TestLargeFiles:
    def test_ten_megabyte_single_line(self, tmp_path: Path) -> None:
        """A 10 MB minified line with a key in the middle reports line 1 and the right column."""
        key = keys.key_id()
        half = b"var a=1;" * (5 * 1024 * 1024 // 8)
        data = half + b'k="' + key.encode() + b'";' + half
        path = tmp_path / "bundle.min.js"
        path.write_bytes(data)
        code, report, _ = scan_json(str(path))
        assert code == 1
        assert places(report, key) == [(str(path), 1, len(half) + 4)]
        assert report["stats"]["bytes"] == len(data)


CHUNK, OVERLAP = 4096, 1024


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut files into 4 KiB chunks with a 1 KiB overlap, so chunk edges are easy to reach."""
    monkeypatch.setattr(files, "CHUNK", CHUNK)
    monkeypatch.setattr(files, "OVERLAP", OVERLAP)


def lines_of_dots(size: int, width: int = 50) -> bytearray:
    """Filler text: lines of `width - 1` dots (dots are never part of a key)."""
    line = b"." * (width - 1) + b"\n"
    return bytearray((line * (size // width + 1))[:size])


# Offsets around the edges of chunks 1 and 2: a key ending right at the edge, crossing it,
# starting on it, inside the overlap, inside the look-behind, and at the very last owned byte.
_EDGE_DELTAS = (-20, -10, -1, 0, 1, 100, OVERLAP - 21, OVERLAP - 1, OVERLAP, -70)


class TestChunks:
    @staticmethod
    def _place(data: bytearray, offset: int, key: str) -> None:
        """Write ` KEY ` so that the key starts at `offset`, keeping line breaks intact."""
        token = b" " + key.encode() + b" "
        data[offset - 1 : offset - 1 + len(token)] = token

    @pytest.mark.parametrize("delta", _EDGE_DELTAS)
    @pytest.mark.parametrize("edge", [CHUNK, 2 * CHUNK])
    def test_key_at_chunk_edge_found_once_with_right_line(
        self, small_chunks: None, tmp_path: Path, edge: int, delta: int
    ) -> None:
        """A key around a chunk edge is found exactly once, at the right line."""
        key = keys.key_id()
        data = lines_of_dots(6 * CHUNK, width=1000)  # long lines: a key never crosses one
        offset = edge + delta
        self._place(data, offset, key)
        path = tmp_path / "big.txt"
        path.write_bytes(bytes(data))
        code, report, _ = scan_json(str(path))
        assert code == 1
        line, _ = where(bytes(data), offset)
        assert [(p, ln) for p, ln, _ in places(report, key)] == [(str(path), line)]
        assert len(report["findings"]) == 1
        assert (report["stats"]["blobs"], report["stats"]["bytes"]) == (1, len(data))

    def test_many_keys_across_many_chunks(self, small_chunks: None, tmp_path: Path) -> None:
        """Keys at every chunk edge of a 40-chunk file are each found once, at the right line."""
        data = lines_of_dots(40 * CHUNK)
        expected: dict[str, int] = {}
        for i in range(1, 40):
            key = keys.key_id()
            offset = i * CHUNK + (i % 7) * 5 - 15  # before, on and after each edge
            if data[offset - 1 : offset + 21].count(b"\n"):
                offset += 25  # keep the key inside one filler line
            self._place(data, offset, key)
            expected[key] = where(bytes(data), offset)[0]
        path = tmp_path / "many.txt"
        path.write_bytes(bytes(data))
        _, report, _ = scan_json(str(path))
        found = {f["key_id"]: [loc["line"] for loc in f["locations"]] for f in report["findings"]}
        assert found == {key: [line] for key, line in expected.items()}

    @pytest.mark.parametrize("delta", [-10, 0, 100, OVERLAP - 1])
    def test_column_is_right_on_a_line_longer_than_a_chunk(
        self, small_chunks: None, tmp_path: Path, delta: int
    ) -> None:
        """On a line begun in an earlier chunk, the column still counts from the line start."""
        key = keys.key_id()
        data = bytearray(b"x" * (5 * CHUNK))  # one long line
        offset = 2 * CHUNK + delta
        self._place(data, offset, key)
        path = tmp_path / "long-line.txt"
        path.write_bytes(bytes(data))
        _, report, _ = scan_json(str(path))
        assert places(report, key) == [(str(path), 1, offset + 1)]

    def test_pair_split_by_a_chunk_edge_is_still_a_pair(
        self, small_chunks: None, tmp_path: Path
    ) -> None:
        """A credentials-file pair whose two lines fall in two chunks is still one pair."""
        key, secret = keys.key_id(), keys.secret_key()
        first = f"aws_access_key_id = {key}\n".encode()
        second = f"aws_secret_access_key = {secret}\n".encode()
        head = b"." * (CHUNK - len(first) - 1) + b"\n"  # the key line ends just before the edge
        data = head + first + second + bytes(lines_of_dots(3 * CHUNK))
        path = tmp_path / "credentials"
        path.write_bytes(data)
        _, report, _ = scan_json(str(path))
        kinds = [f["kind"] for f in report["findings"]]
        assert kinds == ["access_key_pair"]
        assert places(report, key) == [(str(path), 2, 21)]

    def test_utf16_file_larger_than_a_chunk(self, small_chunks: None, tmp_path: Path) -> None:
        """A UTF-16 file larger than one chunk is decoded too: its key is found."""
        key = keys.key_id()
        text = "line\n" * (3 * CHUNK // 10) + f"aws_access_key_id = {key}\n"
        path = tmp_path / "export.txt"
        path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
        assert path.stat().st_size > CHUNK + OVERLAP
        _, report, _ = scan_json(str(path))
        assert places(report, key) == [(str(path), 3 * CHUNK // 10 + 1, 21)]

    def test_stdin_is_chunked_too(self, small_chunks: None) -> None:
        """Standard input larger than a chunk is scanned in chunks with the right lines."""
        key = keys.key_id()
        data = lines_of_dots(3 * CHUNK)
        offset = CHUNK + 5
        self._place(data, offset, key)
        _, report, _ = scan_json("-", input=bytes(data))
        assert places(report, key) == [(None, *where(bytes(data), offset))]


class TestMemory:
    def test_multi_gigabyte_file_stays_memory_bounded(self, tmp_path: Path) -> None:
        """A 3 GiB (sparse) file is scanned to its end in bounded memory: peak RSS under 300 MB."""
        key = keys.key_id()
        size = 3 * 1024**3
        path = tmp_path / "huge.img"
        tail = f"\naws_access_key_id = {key}\n".encode()
        with path.open("wb") as f:
            f.truncate(size)
            f.seek(size - 4096)
            f.write(tail)
        # Measured in a fresh intermediate process, whose only child is this keyscan: the test
        # process's own RUSAGE_CHILDREN holds the largest of every child any test ran before.
        probe = (
            "import json, resource, subprocess, sys\n"
            "proc = subprocess.run(sys.argv[1:], capture_output=True)\n"
            "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "sys.stderr.buffer.write(proc.stderr)\n"
            "sys.stdout.write(json.dumps([proc.returncode, peak, proc.stdout.decode()]))\n"
        )
        measured = subprocess.run(
            [sys.executable, "-c", probe, sys.executable, "-m", "keyscan", "scan", "-f", "json",
             str(path)],
            capture_output=True, timeout=900, check=True,
        )  # fmt: skip
        returncode, peak_kib, stdout = json.loads(measured.stdout)
        assert returncode == 1, measured.stderr.decode()
        report = json.loads(stdout)
        assert places(report, key) == [(str(path), 2, 21)]
        assert report["stats"]["bytes"] == size
        assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB"


class TestEmptyAndSpecialFiles:
    def test_empty_file_and_empty_folder(self, tmp_path: Path) -> None:
        """Empty files and folders scan cleanly, with no warning."""
        (tmp_path / "empty.txt").write_bytes(b"")
        (tmp_path / "empty-dir").mkdir()
        code, report, stderr = scan_json(str(tmp_path), str(tmp_path / "empty.txt"))
        assert (code, report["findings"], stderr) == (0, [], "")

    def test_fifo_inside_a_folder_is_skipped_with_a_warning(self, tmp_path: Path) -> None:
        """A FIFO found while walking a folder is skipped with a warning, without hanging."""
        key = keys.key_id()
        os.mkfifo(tmp_path / "pipe")
        (tmp_path / "z.txt").write_text(f"{key}\n")
        result = run_keyscan("scan", str(tmp_path), timeout=60)
        assert result.returncode == 1  # the scan went on to the next file
        assert key.encode() in result.stdout
        assert b"pipe" in result.stderr and b"skipped" in result.stderr

    def test_fifo_named_explicitly_is_skipped_with_a_warning(self, tmp_path: Path) -> None:
        """A FIFO named on the command line is skipped with a warning, without hanging."""
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        result = run_keyscan("scan", str(fifo), timeout=60)
        assert result.returncode == 0
        assert f"keyscan: warning: {fifo} is not a regular file".encode() in result.stderr
        assert b"skipped" in result.stderr

    def test_dev_null_named_explicitly_is_skipped(self) -> None:
        """/dev/null (a device) is skipped with a warning."""
        result = run_cli("scan", "/dev/null")
        assert result.exit_code == 0
        assert "/dev/null is not a regular file" in result.stderr

    def test_quiet_hides_warnings(self) -> None:
        """--quiet drops the warnings but not the report."""
        result = run_cli("scan", "--quiet", "/dev/null")
        assert result.exit_code == 0
        assert result.stderr == ""
        assert "No AWS credentials found" in result.stdout

    def test_missing_path_exits_2(self, tmp_path: Path) -> None:
        """A path that does not exist exits 2, before anything is scanned."""
        (tmp_path / "k.txt").write_text(f"{keys.key_id()}\n")
        result = run_cli("scan", str(tmp_path), str(tmp_path / "missing.txt"))
        assert result.exit_code == 2
        assert f"path not found: {tmp_path / 'missing.txt'}" in result.stderr
        assert result.stdout == ""

    def test_dangling_symlink_named_explicitly(self, tmp_path: Path) -> None:
        """A dangling symlink named on the command line is skipped with a warning, not a crash."""
        link = tmp_path / "dangling"
        link.symlink_to(tmp_path / "nowhere")
        result = run_cli("scan", str(link))
        assert result.exit_code == 0
        assert str(link) in result.stderr and "skipped" in result.stderr


class TestSymlinksAndGit:
    def test_symlink_loop_does_not_loop(self, tmp_path: Path) -> None:
        """A folder symlink to its own parent is not followed: the scan ends, each key once."""
        root = tmp_path / "root"
        (root / "sub").mkdir(parents=True)
        key = keys.key_id()
        (root / "sub" / "k.txt").write_text(f"{key}\n")
        (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
        (root / "self").symlink_to(".", target_is_directory=True)
        result = run_keyscan("scan", "-f", "json", str(root), timeout=60)
        assert result.returncode == 1
        assert places(json.loads(result.stdout), key) == [(str(root / "sub" / "k.txt"), 1, 1)]

    def test_symlink_out_of_the_root_is_not_followed(self, tmp_path: Path) -> None:
        """Symlinks to a file or folder outside the scanned folder are not followed."""
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text(f"{keys.key_id()}\n")
        root = tmp_path / "root"
        root.mkdir()
        (root / "file-link").symlink_to(outside / "secret.txt")
        (root / "dir-link").symlink_to(outside, target_is_directory=True)
        (root / "plain.txt").write_text("nothing\n")
        code, report, _ = scan_json(str(root))
        assert (code, report["findings"]) == (0, [])

    def test_symlink_inside_the_root_does_not_double_report(self, tmp_path: Path) -> None:
        """A symlink to a file inside the root does not report that file's key a second time."""
        key = keys.key_id()
        (tmp_path / "real.txt").write_text(f"{key}\n")
        (tmp_path / "alias.txt").symlink_to(tmp_path / "real.txt")
        (tmp_path / "dir").mkdir()
        (tmp_path / "dir-alias").symlink_to(tmp_path / "dir", target_is_directory=True)
        (tmp_path / "dir" / "b.txt").write_text(f"{key}\n")
        _, report, _ = scan_json(str(tmp_path))
        assert places(report, key) == [
            (str(tmp_path / "real.txt"), 1, 1),
            (str(tmp_path / "dir" / "b.txt"), 1, 1),
        ]

    def test_root_given_as_a_symlink_is_scanned(self, tmp_path: Path) -> None:
        """A folder named through a symlink is scanned: the user asked for it explicitly."""
        key = keys.key_id()
        (tmp_path / "real").mkdir()
        (tmp_path / "real" / "k.txt").write_text(f"{key}\n")
        (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
        _, report, _ = scan_json(str(tmp_path / "link"))
        assert places(report, key) == [(str(tmp_path / "link" / "k.txt"), 1, 1)]

    def test_git_folders_are_skipped(self, tmp_path: Path) -> None:
        """.git folders (at the top and nested) are not scanned as files; .github is."""
        for git_dir in (tmp_path / ".git", tmp_path / "vendor" / "lib" / ".git"):
            (git_dir / "objects").mkdir(parents=True)
            (git_dir / "config").write_text(f"[x]\n  key = {keys.key_id()}\n")
            (git_dir / "objects" / "pack.txt").write_text(f"{keys.key_id()}\n")
        key = keys.key_id()
        (tmp_path / ".github" / "workflows").mkdir(parents=True)
        (tmp_path / ".github" / "workflows" / "ci.yml").write_text(f"env:\n  KEY: {key}\n")
        code, report, _ = scan_json(str(tmp_path))
        assert code == 1
        assert [f["key_id"] for f in report["findings"]] == [key]


@pytest.fixture
def vanishing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Delete each listed file in `victims` after the walk lists it and before it is read."""
    victims: list[str] = []
    real_walk = files._walk

    def walk_then_delete(root: str, warn: Any) -> Iterator[str]:
        for path in real_walk(root, warn):
            if os.path.basename(path) in victims:
                target = Path(path)
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            yield path

    monkeypatch.setattr(files, "_walk", walk_then_delete)
    yield victims


class TestVanishingFiles:
    def test_file_vanishing_between_listing_and_reading(
        self, tmp_path: Path, vanishing: list[str]
    ) -> None:
        """A file deleted after it was listed gives a warning and the scan goes on."""
        key = keys.key_id()
        (tmp_path / "a-gone.txt").write_text(f"{keys.key_id()}\n")
        (tmp_path / "b-kept.txt").write_text(f"{key}\n")
        vanishing.append("a-gone.txt")
        code, report, stderr = scan_json(str(tmp_path))
        assert code == 1
        assert [f["key_id"] for f in report["findings"]] == [key]
        assert f"cannot read {tmp_path / 'a-gone.txt'}" in stderr
        assert "skipped" in stderr

    def test_walk_listing_a_missing_name(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A name the folder listing returns but lstat cannot find is warned about and skipped."""
        key = keys.key_id()
        (tmp_path / "real.txt").write_text(f"{key}\n")
        real_walk = os.walk

        def walk_with_ghost(top: str, **kw: Any) -> Iterator[tuple[str, list[str], list[str]]]:
            for dirpath, dirnames, filenames in real_walk(top, **kw):
                yield dirpath, dirnames, [*filenames, "ghost.txt"]

        monkeypatch.setattr(files.os, "walk", walk_with_ghost)
        code, report, stderr = scan_json(str(tmp_path))
        assert code == 1
        assert [f["key_id"] for f in report["findings"]] == [key]
        assert str(tmp_path / "ghost.txt") in stderr
