"""Decoding at its edges: base64 encoded twice, archives that store members as they are, key
IDs glued to binary content (SQLite, .pyc), bounds that must warn, and noise that must not.

Each case was a bug once (found while writing test_decode.py); the tests keep them fixed.
"""

from __future__ import annotations

import base64
import gzip
import os
import py_compile
import random
import sqlite3
import time
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

import pytest
from test_decode import (
    ENGINES,
    MIB,
    b64,
    creds,
    ini,
    json_escapes,
    places,
    scan_json,
    tar,
    zeros_member,
    zip_archive,
    zip_member,
    zipped,
)

from keyscan import decode


class TestNestedBase64:
    def test_base64_of_base64_credentials_file(self, tmp_path: Path) -> None:
        """A credentials file base64'd twice is found ("nested once more").,
        because no trigger matches a doubly encoded marker, so the outer run is never decoded."""
        c = creds()
        path = tmp_path / "values.yaml"
        path.write_text(f"blob: {b64(b64(ini(c)))}\n")
        code, report, _, _ = scan_json(str(path))
        assert code == 1
        assert places(report) == [(str(path), 2, 21, ["base64", "base64"])]


class TestStoredMembers:
    @pytest.mark.parametrize("kind", ["tar", "tar.gz", "stored-zip"])
    def test_member_stored_as_is_is_one_location_with_its_steps(
        self, tmp_path: Path, kind: str
    ) -> None:
        """A key in a tar member (or an uncompressed zip member) is one location, in the member,
        with its steps. Once: also a second location at the tar's own line (its plain bytes
        hold the member), and when both lines coincide only the plain one, with no steps."""
        c = creds()
        members = {"README": b"one\ntwo\nthree\n", "config/credentials": ini(c).encode()}
        data = {
            "tar": tar(members),
            "tar.gz": gzip.compress(tar(members)),
            "stored-zip": zipped(members, zipfile.ZIP_STORED),
        }[kind]
        steps = {
            "tar": ["tar:config/credentials"],
            "tar.gz": ["gzip", "tar:config/credentials"],
            "stored-zip": ["zip:config/credentials"],
        }[kind]
        path = tmp_path / f"bundle.{kind}"
        path.write_bytes(data)
        code, report, _, _ = scan_json(str(path))
        assert code == 1
        assert places(report) == [(str(path), 2, 21, steps)]


class TestBinaryFiles:
    @pytest.mark.parametrize(
        "columns,row",
        [("access_key_id text", ("KEY",)),
         ("user text, access_key_id text, secret_access_key text", ("deploy", "KEY", "SECRET"))],
        ids=["one-column", "user-key-secret"],
    )  # fmt: skip
    def test_key_in_sqlite_database(self, tmp_path: Path, columns: str, row: tuple[str]) -> None:
        """A key ID stored in a SQLite table is found. Once: not found, because the record
        puts a serial-type byte ('5' for 20-byte text) right before the value and the next
        column's text right after it, so the key ID looks cut out of a longer token."""
        c = creds()
        values = tuple({"KEY": c.key, "SECRET": c.secret}.get(v, v) for v in row)
        path = tmp_path / "app.db"
        db = sqlite3.connect(path)
        db.execute(f"create table credentials ({columns})")
        db.execute(f"insert into credentials values ({','.join('?' * len(values))})", values)
        db.commit()
        db.close()
        code, report, _, _ = scan_json(str(path))
        assert code == 1
        assert c.key in {f["key_id"] for f in report["findings"]}

    def test_key_in_compiled_python(self, tmp_path: Path) -> None:
        """A key ID string constant in a .pyc is found. Once: not found (marshal puts the
        next object's type byte, e.g. 'z' or 'N', right after the string)."""
        c = creds()
        source = tmp_path / "settings.py"
        source.write_text(f'AWS_ACCESS_KEY_ID = "{c.key}"\nREGION = "eu-west-1"\n')
        compiled = tmp_path / "settings.pyc"
        py_compile.compile(str(source), cfile=str(compiled), doraise=True)
        source.unlink()
        code, report, _, _ = scan_json(str(compiled))
        assert code == 1
        assert c.key in {f["key_id"] for f in report["findings"]}


class TestBounds:
    def test_nesting_beyond_the_depth_limit_warns(self, tmp_path: Path) -> None:
        """Past MAX_DEPTH layers the cut-off says so on stderr (issue 6: "cut off ... with a
        warning"). Once: silent; the key 7 layers down is simply not found."""
        data = ini(creds()).encode()
        for _ in range(decode.MAX_DEPTH + 3):
            data = gzip.compress(data)
        (tmp_path / "deeper.gz").write_bytes(data)
        code, report, _, stderr = scan_json(str(tmp_path))
        assert (code, report["findings"]) == (0, [])
        assert "deeper.gz" in stderr and "depth" in stderr

    def test_corrupt_zip_member_does_not_hide_the_others(self, tmp_path: Path) -> None:
        """A member that fails its CRC (here: its headers claim 1 KiB, it inflates to 8 MiB)
        costs a warning; the key in the good member before it is still found. Once: the whole
        archive is dropped (BadZipFile) and the key is missed, exit 0."""
        c = creds()
        path = tmp_path / "release.zip"
        path.write_bytes(zip_archive(
            [zip_member("conf/app.env", ini(c).encode()), zeros_member("small.txt", 8, 1024)]
        ))  # fmt: skip
        code, report, _, stderr = scan_json(str(path))
        assert "release.zip" in stderr
        assert code == 1
        assert places(report) == [(str(path), 2, 21, ["zip:conf/app.env"])]


class TestNoise:
    def test_base64_value_decoding_to_a_gzip_magic_is_no_warning(self, tmp_path: Path) -> None:
        """Random base64 that happens to decode to \\x1f\\x8b (1 in 65,536 values) is noise,
        not a broken gzip. Once: `keyscan: warning: FILE > base64: cannot be unpacked (error);
        scanned as it is` (and "error" is zlib's exception name, which says nothing)."""
        value = base64.b64encode(b"\x1f\x8b" + os.urandom(38)).decode()
        (tmp_path / "secret.yaml").write_text(f"data:\n  AWS_SECRET_ACCESS_KEY: {value}\n")
        code, report, _, stderr = scan_json(str(tmp_path))
        assert (code, report["findings"], stderr) == (0, [], "")

    def test_base64_lines_scan_in_linear_time(self, tmp_path: Path) -> None:
        """3 MB of MIME base64 (a random attachment) scans in about the time of 1 MB, times
        three. Once: quadratic: _base64 counts newlines from the start of the blob for every
        run whose decoded bytes hold a \\n (1 in 5 random lines) before checking that they are
        printable: 1 MB ~0.8 s, 3 MB ~11 s, a 16 MiB chunk minutes (--no-decode: 0.2 s)."""
        rng = random.Random(6)
        seconds = []
        for size in (MIB, 3 * MIB):
            (tmp_path / "mail.eml").write_bytes(base64.encodebytes(rng.randbytes(size * 3 // 4)))
            started = time.monotonic()
            code, _, _, _ = scan_json(str(tmp_path / "mail.eml"))
            seconds.append(time.monotonic() - started)
            assert code == 0
        assert seconds[1] < 4 * seconds[0] + 0.5, seconds


def _findings(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    """What a report found, and where, without the decoding steps."""
    return sorted(
        (f["rule"], f["id"], loc["line"]) for f in report["findings"] for loc in f["locations"]
    )


class TestWindows:
    """An in-place decoding is scanned as the lines around it, not as a copy of the blob."""

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("apart", [1, 4, 5, 6, 8])
    def test_encoded_secret_pairs_as_its_plain_twin_does(
        self, tmp_path: Path, engine: str, apart: int
    ) -> None:
        """A key ID `apart` lines above a URL-encoded (or base64'd) secret, in a long file:
        the same findings, at the same lines, as the plain file gives; pairs reach exactly as
        far as they do in plain text."""
        c = creds()
        filler = [f"line {n}: nothing here" for n in range(400)]

        def text(secret: str) -> str:
            lines = [*filler]
            lines[200:200] = [f"aws_access_key_id = {c.key}"] + ["# --"] * (apart - 1)
            lines.insert(200 + apart, f"aws_secret_access_key = {secret}")
            return "\n".join(lines) + "\n"

        plain_path, url_path = tmp_path / "plain.ini", tmp_path / "url.ini"
        plain_path.write_text(text(c.secret))
        url_path.write_text(text(urllib.parse.quote(c.secret, safe="")))
        _, plain, _, _ = scan_json("--engine", engine, str(plain_path))
        code, decoded, _, _ = scan_json("--engine", engine, str(url_path))
        assert code == 1
        assert _findings(decoded) == _findings(plain)
        pair = [f for f in plain["findings"] if f["kind"] == "access_key_pair"]
        assert bool(pair) == (apart <= 5)

    @pytest.mark.parametrize("engine", ENGINES)
    def test_encoded_values_far_apart_are_each_found_at_their_line(
        self, tmp_path: Path, engine: str
    ) -> None:
        """Three credentials in one large file, each behind an encoding, far apart: each is
        found once, at its own line, with its own steps."""
        first, second, third = creds(), creds(), creds()
        escaped = json_escapes(second).data.decode()
        lines = [f"row {n}" for n in range(3000)]
        lines[100] = f"url: s3a://{first.key}:{urllib.parse.quote(first.secret, safe='')}@b/x"
        lines[1500:1501] = escaped.splitlines()
        lines[2900] = f"blob: {b64(ini(third))}"
        path = tmp_path / "big.txt"
        path.write_text("\n".join(lines) + "\n")
        code, report, _, _ = scan_json("--engine", engine, str(path))
        assert code == 1
        found = {
            f["key_id"]: [(loc["line"], loc["decoded"]) for loc in f["locations"]]
            for f in report["findings"]
        }
        assert found == {
            first.key: [(101, ["url"])],
            second.key: [(1502, ["escape"])],
            third.key: [(2902, ["base64"])],
        }


class TestEscapedBinary:
    @pytest.mark.parametrize("engine", ENGINES)
    def test_escaped_bytes_are_no_trigger(self, engine: str) -> None:
        """A Go file of hex-escaped compressed bytes (go-bindata) holds thousands of \\x2f
        and \\x3d, never beside four letters or digits: it is not decoded at all (once, such a
        1.4 MB file cost 0.65 s of decoding). The same escape inside a key-like value is."""
        rng = random.Random(7)
        body = "".join(f"\\x{b:02x}" for b in rng.randbytes(200_000))
        data = f'var _bindata = "{body}"\n'.encode()
        assert data.count(b"\\x2f") > 100
        decoder = decode.Decoder(engine)
        assert decoder.kinds(data) == {}
        assert "escape" in decoder.kinds(b'secret = "abcd\\x2fefgh"')
