"""Keys that hide: inside archives and compressed files, behind base64, URL, string and HTML
escapes, in UTF-16/UTF-32 text and in binary files (issue 6); and the bounds that keep hostile
input (bombs, deep nesting, noise) cheap.

Every key is generated at run time (tests/keys.py) and wrapped by the standard library. Expected
lines and columns are computed from the bytes written, never from keyscan.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import random
import struct
import subprocess
import sys
import tarfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keys
import pytest
from conftest import run_cli

from keyscan import decode

ENGINES = ["regex", "hyperscan"]
MIB = 1024 * 1024


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Creds:
    key: str
    secret: str


def creds() -> Creds:
    """A key pair whose secret holds both `/` and `+`, so that every encoding changes it."""
    while True:
        secret = keys.secret_key()
        if "/" in secret and "+" in secret:
            return Creds(keys.key_id(), secret)


def ini(c: Creds) -> str:
    """A credentials file: the key ID at line 2, column 21."""
    return f"[default]\naws_access_key_id = {c.key}\naws_secret_access_key = {c.secret}\n"


def where(text: str | bytes, needle: str | bytes) -> tuple[int, int]:
    """1-based line and column of `needle` in `text` (ASCII around it)."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    if isinstance(needle, str):
        needle = needle.encode()
    offset = text.index(needle)
    return text.count(b"\n", 0, offset) + 1, offset - (text.rfind(b"\n", 0, offset) + 1) + 1


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def scan_json(*args: str, input: bytes | None = None) -> tuple[int, dict[str, Any], str, str]:
    """`keyscan scan -f json ARGS`, in-process: exit code, report, raw stdout, stderr."""
    result = run_cli("scan", "-f", "json", *args, input=input)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, report, result.stdout, result.stderr


def places(report: dict[str, Any]) -> list[tuple[str | None, int, int, list[str]]]:
    """Every (path, line, column, decoded) of every finding."""
    return [
        (loc["path"], loc["line"], loc["column"], loc["decoded"])
        for f in report["findings"]
        for loc in f["locations"]
    ]


# --- the cases: one key pair (or key ID) behind each container and encoding ------------------


@dataclass(frozen=True)
class Case:
    name: str  # the file's name
    data: bytes  # what is scanned
    plain: bytes  # the same content with nothing to decode
    decoded: list[str]  # the expected `decoded` steps
    line: int
    column: int | None  # None: not checked (an approximate column)
    kind: str = "access_key_pair"


def k8s_secret(c: Creds) -> Case:
    def manifest(section: str, key: str, secret: str) -> str:
        return (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws\ntype: Opaque\n"
            f"{section}:\n  AWS_ACCESS_KEY_ID: {key}\n  AWS_SECRET_ACCESS_KEY: {secret}\n"
        )

    text = manifest("data", b64(c.key), b64(c.secret))
    return Case(
        "secret.yaml", text.encode(), manifest("stringData", c.key, c.secret).encode(),
        ["base64"], *where(text, b64(c.key)),
    )  # fmt: skip


def base64_credentials_file(c: Creds) -> Case:
    text = f"# backup of ~/.aws/credentials\ncredentials: {b64(ini(c))}\n"
    # Decoded content of its own, placed at the run's line (2): the key ID is its line 2.
    return Case("backup.yaml", text.encode(), ini(c).encode(), ["base64"], 3, 21)


def urlsafe_base64(c: Creds) -> Case:
    # "~~~" and "???" at aligned offsets encode as "fn5-" and "Pz8_": urlsafe characters for sure.
    inner = f"~~~???\n{ini(c)}"
    encoded = base64.urlsafe_b64encode(inner.encode()).decode()
    assert "-" in encoded and "_" in encoded
    return Case("token.txt", f"token={encoded}\n".encode(), inner.encode(), ["base64"], 3, 21)


def base64_inside_base64(c: Creds) -> Case:
    """A .env file in base64 whose secret is base64 itself: nested once more."""
    env = f"AWS_ACCESS_KEY_ID={c.key}\nAWS_SECRET_ACCESS_KEY={b64(c.secret)}\n"
    plain = f"AWS_ACCESS_KEY_ID={c.key}\nAWS_SECRET_ACCESS_KEY={c.secret}\n"
    text = f"env: {b64(env)}\n"
    # The decoded .env starts at the run (line 1, column 6): its first line's columns follow on.
    line, column = where(env, c.key)
    return Case(
        "values.yaml", text.encode(), plain.encode(), ["base64", "base64"], line, 5 + column
    )


def presigned_url(c: Creds) -> Case:
    def url(secret: str) -> str:
        return (
            "https://bucket.s3.amazonaws.com/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={c.key}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
            f"&aws_secret_access_key={secret}&X-Amz-Expires=3600\n"
        )

    text = url(urllib.parse.quote(c.secret, safe=""))
    assert "%2F" in text and "%2B" in text
    plain = url(c.secret).replace("%2F", "/")
    return Case("links.txt", text.encode(), plain.encode(), ["url"], *where(text, c.key))


def connection_string(c: Creds) -> Case:
    def conn(secret: str) -> str:
        return f"# warehouse\nSPARK_EVENTLOG=s3a://{c.key}:{secret}@logs-bucket/spark%3Devents\n"

    text = conn(urllib.parse.quote(c.secret, safe=""))
    plain = conn(c.secret).replace("%3D", "=")
    return Case("spark.env", text.encode(), plain.encode(), ["url"], *where(text, c.key))


def json_escapes(c: Creds) -> Case:
    escaped = c.secret.replace("/", "\\/").replace("+", "\\u002B")
    template = '{\n  "aws_access_key_id": "%s",\n  "aws_secret_access_key": "%s"\n}\n'
    text = template % (c.key, escaped)
    return Case(
        "dump.json", text.encode(), (template % (c.key, c.secret)).encode(), ["escape"],
        *where(text, c.key),
    )  # fmt: skip


def c_string_escapes(c: Creds) -> Case:
    escaped = c.secret.replace("/", "\\x2f").replace("+", "\\x2B")
    template = 'static const char *aws_key_id = "%s";\nstatic const char *aws_secret = "%s";\n'
    text = template % (c.key, escaped)
    return Case(
        "creds.c", text.encode(), (template % (c.key, c.secret)).encode(), ["escape"],
        *where(text, c.key),
    )  # fmt: skip


def html_entities(c: Creds) -> Case:
    escaped = c.secret.replace("/", "&#x2F;").replace("+", "&plus;")
    template = "<pre>\naws_access_key_id = %s\naws_secret_access_key = %s\n</pre>\n"
    text = template % (c.key, escaped)
    return Case(
        "page.html", text.encode(), (template % (c.key, c.secret)).encode(), ["html"],
        *where(text, c.key),
    )  # fmt: skip


def html_decimal_entities(c: Creds) -> Case:
    escaped = c.secret.replace("/", "&#47;").replace("+", "&#43;")
    template = "<td>aws_access_key_id=%s</td>\n<td>aws_secret_access_key=%s</td>\n"
    text = template % (c.key, escaped)
    return Case(
        "table.html", text.encode(), (template % (c.key, c.secret)).encode(), ["html"],
        *where(text, c.key),
    )  # fmt: skip


def wide(codec: str, label: str) -> Callable[[Creds], Case]:
    def build(c: Creds) -> Case:
        return Case(f"credentials.{codec}", ini(c).encode(codec), ini(c).encode(), [label], 2, 21)

    build.__name__ = codec.replace("-", "")
    return build


def utf16_in_binary(c: Creds) -> Case:
    """A fake Windows executable holding a UTF-16LE string among random bytes."""
    rng = random.Random(6)
    string = f"aws_access_key_id={c.key}"
    head = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + rng.randbytes(4000) + b"\x00\x00"
    data = head + string.encode("utf-16-le") + b"\x00\x00" + rng.randbytes(4000)
    line = head.count(b"\n") + 1
    return Case("tool.exe", data, string.encode(), ["utf-16"], line, 19, "access_key_id")


def compressed(suffix: str, label: str, pack: Callable[[bytes], bytes]) -> Callable[[Creds], Case]:
    def build(c: Creds) -> Case:
        return Case(f"credentials{suffix}", pack(ini(c).encode()), ini(c).encode(), [label], 2, 21)

    build.__name__ = label
    return build


def zip_file(c: Creds) -> Case:
    members = {"README.md": b"# release\n\nnotes\n", "conf/app.env": ini(c).encode()}
    return Case("release.zip", zipped(members), ini(c).encode(), ["zip:conf/app.env"], 2, 21)


def jar_file(c: Creds) -> Case:
    props = f"# S3 uploads\naws.accessKeyId={c.key}\naws.secretKey={c.secret}\n"
    members = {
        "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nMain-Class: app.Main\r\n",
        "app/Main.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(64),
        "BOOT-INF/classes/application.properties": props.encode(),
    }
    return Case(
        "app.jar", zipped(members), props.encode(),
        ["zip:BOOT-INF/classes/application.properties"], *where(props, c.key),
    )  # fmt: skip


def wheel_file(c: Creds) -> Case:
    module = (
        f'"""Settings."""\n\nAWS_ACCESS_KEY_ID = "{c.key}"\nAWS_SECRET_ACCESS_KEY = "{c.secret}"\n'
    )
    members = {
        "pkg/__init__.py": b"",
        "pkg/settings.py": module.encode(),
        "pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
    }
    return Case(
        "pkg-1.0-py3-none-any.whl", zipped(members), module.encode(), ["zip:pkg/settings.py"],
        *where(module, c.key),
    )  # fmt: skip


def docx_file(c: Creds) -> Case:
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        "<w:document><w:body>\n"
        f"<w:p><w:r><w:t>aws_access_key_id = {c.key}</w:t></w:r></w:p>\n"
        f"<w:p><w:r><w:t>aws_secret_access_key = {c.secret}</w:t></w:r></w:p>\n"
        "</w:body></w:document>\n"
    )
    members = {"[Content_Types].xml": b"<Types/>", "word/document.xml": xml.encode()}
    return Case(
        "handover.docx", zipped(members), xml.encode(), ["zip:word/document.xml"],
        *where(xml, c.key),
    )  # fmt: skip


def xlsx_file(c: Creds) -> Case:
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst count="2">\n'
        f"<si><t>aws_access_key_id={c.key}</t></si>\n"
        f"<si><t>aws_secret_access_key={c.secret}</t></si>\n</sst>\n"
    )
    members = {
        "[Content_Types].xml": b"<Types/>",
        "xl/workbook.xml": b"<workbook/>",
        "xl/sharedStrings.xml": xml.encode(),
    }
    return Case(
        "keys.xlsx", zipped(members), xml.encode(), ["zip:xl/sharedStrings.xml"],
        *where(xml, c.key),
    )  # fmt: skip


def yaml_in_tar_gz(c: Creds) -> Case:
    """The issue's nested case: a base64 value inside a YAML file inside a tar.gz."""
    manifest = k8s_secret(c)
    members = {"README": b"deploy bundle\n", "config/app.yaml": manifest.data}
    return Case(
        "bundle.tar.gz", gzip.compress(tar(members)), manifest.plain,
        ["gzip", "tar:config/app.yaml", "base64"], manifest.line, manifest.column,
    )  # fmt: skip


BUILDERS: list[Callable[[Creds], Case]] = [
    k8s_secret,
    base64_credentials_file,
    urlsafe_base64,
    base64_inside_base64,
    presigned_url,
    connection_string,
    json_escapes,
    c_string_escapes,
    html_entities,
    html_decimal_entities,
    wide("utf-16-le", "utf-16"),
    wide("utf-16-be", "utf-16"),
    wide("utf-32-le", "utf-32"),
    wide("utf-32-be", "utf-32"),
    utf16_in_binary,
    compressed(".gz", "gzip", gzip.compress),
    compressed(".bz2", "bzip2", bz2.compress),
    compressed(".xz", "xz", lzma.compress),
    zip_file,
    jar_file,
    wheel_file,
    docx_file,
    xlsx_file,
    yaml_in_tar_gz,
]


class TestDecoded:
    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
    def test_found_once_with_its_steps_and_same_as_plain(
        self, tmp_path: Path, build: Callable[[Creds], Case], engine: str
    ) -> None:
        """The key behind each encoding or container is one finding, at the right place with
        the steps that reached it; the same content plain is that same finding, undecoded."""
        c = creds()
        case = build(c)
        path = tmp_path / case.name
        path.write_bytes(case.data)
        code, report, stdout, stderr = scan_json("--engine", engine, str(path))
        assert code == 1, stderr
        assert stderr == ""
        (found,) = report["findings"]
        assert (found["kind"], found["key_id"]) == (case.kind, c.key)
        line_column = (case.line, case.column)
        assert [(p, ln, col if case.column else None, d) for p, ln, col, d in places(report)] == [
            (str(path), *line_column, case.decoded)
        ]
        assert c.secret not in stdout

        plain = tmp_path / "plain"
        plain.mkdir()
        (plain / case.name).write_bytes(case.plain)
        code, plain_report, _, _ = scan_json("--engine", engine, str(plain))
        assert code == 1
        (plain_found,) = plain_report["findings"]
        # The same fingerprint (rule and credential): the secret was decoded exactly.
        assert plain_found["id"] == found["id"]
        ((_, _, _, steps),) = places(plain_report)
        assert steps == []

    def test_secret_is_shown_decoded_only_with_show_secrets(self, tmp_path: Path) -> None:
        """With --show-secrets the decoded secret is printed as it is, not as encoded."""
        c = creds()
        case = presigned_url(c)
        (tmp_path / case.name).write_bytes(case.data)
        _, report, _, _ = scan_json("--show-secrets", str(tmp_path))
        assert [(f["key_id"], f["secret"]) for f in report["findings"]] == [(c.key, c.secret)]

    def test_pair_replaces_the_lone_plain_key_id(self, tmp_path: Path) -> None:
        """A plain key ID beside a URL-encoded secret is one pair, not a pair and a lone ID."""
        c = creds()
        case = presigned_url(c)
        (tmp_path / case.name).write_bytes(case.data)
        code, report, _, _ = scan_json(str(tmp_path))
        assert code == 1
        assert [f["kind"] for f in report["findings"]] == ["access_key_pair"]
        _, report, _, _ = scan_json("--no-decode", str(tmp_path))
        assert [f["kind"] for f in report["findings"]] == ["access_key_id"]

    def test_text_report_shows_the_steps(self, tmp_path: Path) -> None:
        """The text report names the steps after the location, and never the secret."""
        c = creds()
        case = yaml_in_tar_gz(c)
        path = tmp_path / case.name
        path.write_bytes(case.data)
        result = run_cli("scan", str(path))
        assert result.exit_code == 1
        expected = f"{path}:{case.line}:{case.column} [gzip › tar:config/app.yaml › base64]"
        assert expected in result.stdout
        assert c.secret not in result.stdout
        assert b64(c.secret) not in result.stdout

    def test_no_decode_finds_nothing_inside(self, tmp_path: Path) -> None:
        """--no-decode scans the bytes as they are: a gzip'd key is not found."""
        case = compressed(".gz", "gzip", gzip.compress)(creds())
        (tmp_path / case.name).write_bytes(case.data)
        code, report, _, _ = scan_json("--no-decode", str(tmp_path))
        assert (code, report["findings"]) == (0, [])

    def test_standard_input_is_decoded(self) -> None:
        """A gzip'd credentials file on standard input is found, at its line inside."""
        c = creds()
        code, report, _, _ = scan_json("-", input=gzip.compress(ini(c).encode()))
        assert code == 1
        assert places(report) == [(None, 2, 21, ["gzip"])]

    def test_same_key_plain_and_encoded_is_one_finding_with_two_locations(
        self, tmp_path: Path
    ) -> None:
        """One credential seen plain in one file and gzip'd in another is one finding."""
        c = creds()
        (tmp_path / "a.ini").write_text(ini(c))
        (tmp_path / "b.ini.gz").write_bytes(gzip.compress(ini(c).encode()))
        code, report, _, _ = scan_json(str(tmp_path))
        assert code == 1
        assert sorted(places(report)) == [
            (str(tmp_path / "a.ini"), 2, 21, []),
            (str(tmp_path / "b.ini.gz"), 2, 21, ["gzip"]),
        ]

    def test_tar_member_key_is_found(self, tmp_path: Path) -> None:
        """A key in a member of a tar and of a tar.gz is one finding in each file.

        Only that: a tar stores members as they are, so the tar's own bytes show the key too,
        and today keyscan reports it at both places (the tar's line and the member's line)."""
        c = creds()
        members = {"README": b"one\ntwo\nthree\n", "config/credentials": ini(c).encode()}
        (tmp_path / "a.tar").write_bytes(tar(members))
        (tmp_path / "b.tar.gz").write_bytes(gzip.compress(tar(members)))
        code, report, _, _ = scan_json(str(tmp_path))
        assert code == 1
        assert [(f["kind"], f["key_id"]) for f in report["findings"]] == [
            ("access_key_pair", c.key)
        ]
        paths = {p for p, _, _, _ in places(report)}
        assert paths == {str(tmp_path / "a.tar"), str(tmp_path / "b.tar.gz")}


# --- bounds: bombs and deep nesting ------------------------------------------------------------


def deflate_zeros(mib: int) -> bytes:
    """A raw deflate stream of `mib` MiB of zeros, built cheaply from one repeated block (a full
    flush resets the compressor, so every MiB compresses to the same bytes)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * mib + compressor.flush()


def crc_of_zeros(mib: int) -> int:
    crc, zeros = 0, bytes(MIB)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return crc


def gzip_bomb(mib: int) -> bytes:
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"
    trailer = struct.pack("<II", crc_of_zeros(mib), (mib * MIB) & 0xFFFFFFFF)
    return header + deflate_zeros(mib) + trailer


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


ZipMember = tuple[str, bytes, int, int]  # name, deflated data, CRC-32, size the headers claim


def zip_archive(members: list[ZipMember]) -> bytes:
    """A zip written by hand, so that its headers can say what they like."""
    local = central = b""
    for name, data, crc, size in members:
        raw, offset = name.encode(), len(local)
        local += struct.pack(
            "<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0
        ) + raw + data  # fmt: skip
        central += struct.pack(
            "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size, len(raw),
            0, 0, 0, 0, 0, offset,
        ) + raw  # fmt: skip
    end = struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0
    )
    return local + central + end


def zip_member(name: str, data: bytes) -> ZipMember:
    return name, raw_deflate(data), zlib.crc32(data), len(data)


def zeros_member(name: str, mib: int, claimed: int | None = None) -> ZipMember:
    size = mib * MIB if claimed is None else claimed
    return name, deflate_zeros(mib), crc_of_zeros(mib), size


def measured_scan(*args: str, timeout: float = 120) -> tuple[int, int, dict[str, Any], str, float]:
    """`keyscan scan -f json ARGS` as a real subprocess: exit code, peak RSS (KiB), report,
    standard error, seconds. Measured in a fresh intermediate process whose only child is this
    keyscan (RUSAGE_CHILDREN of the test process holds every child any test ran before)."""
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.monotonic()\n"
        "proc = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "seconds = time.monotonic() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stdout.write(json.dumps([proc.returncode, peak, proc.stdout.decode(),\n"
        "                             proc.stderr.decode(), seconds]))\n"
    )
    measured = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "keyscan", "scan", "-f", "json", *args],
        capture_output=True, timeout=timeout, check=True,
    )  # fmt: skip
    code, peak, stdout, stderr, seconds = json.loads(measured.stdout)
    return code, peak, json.loads(stdout) if stdout.strip() else {}, stderr, seconds


BOMB_RSS_KIB = 400 * 1024  # a scan holds at most MAX_OUTPUT (64 MiB) decompressed, plus copies
BOMB_SECONDS = 20


class TestBombs:
    def test_gzip_bomb_is_cut_off_with_a_warning(self, tmp_path: Path) -> None:
        """1 GiB of zeros gzip'd (1 MB) is cut off at the limit: a warning, bounded memory
        and time, and a key in another file of the scan is still found."""
        c = creds()
        (tmp_path / "zeros.gz").write_bytes(gzip_bomb(1024))
        (tmp_path / "credentials").write_text(ini(c))
        code, peak, report, stderr, seconds = measured_scan(str(tmp_path))
        assert code == 1, stderr
        assert places(report) == [(str(tmp_path / "credentials"), 2, 21, [])]
        assert "zeros.gz" in stderr and "decompression bomb" in stderr
        assert peak < BOMB_RSS_KIB, f"peak RSS {peak} KiB"
        assert seconds < BOMB_SECONDS

    def test_gzip_bomb_alone_exits_0(self, tmp_path: Path) -> None:
        """A bomb with nothing in it is not a finding: exit 0, with the warning."""
        path = tmp_path / "zeros.gz"
        path.write_bytes(gzip_bomb(256))
        code, report, _, stderr = scan_json(str(path))
        assert (code, report["findings"]) == (0, [])
        assert f"{path}: gzip content over" in stderr

    def test_zip_bomb_keeps_the_members_before_it(self, tmp_path: Path) -> None:
        """A zip member of 1 GiB of zeros is cut off with a warning, in bounded memory and
        time; the key in the member before it is still found."""
        c = creds()
        archive = zip_archive(
            [zip_member("conf/app.env", ini(c).encode()), zeros_member("disk.img", 1024)]
        )
        path = tmp_path / "release.zip"
        path.write_bytes(archive)
        code, peak, report, stderr, seconds = measured_scan(str(path))
        assert code == 1, stderr
        assert places(report) == [(str(path), 2, 21, ["zip:conf/app.env"])]
        assert "disk.img" in stderr and "limit" in stderr
        assert peak < BOMB_RSS_KIB, f"peak RSS {peak} KiB"
        assert seconds < BOMB_SECONDS

    def test_zip_member_claiming_a_small_size_is_not_trusted(self, tmp_path: Path) -> None:
        """A member whose headers claim 1 KiB but that inflates to 1 GiB costs a warning,
        never the memory."""
        path = tmp_path / "liar.zip"
        path.write_bytes(zip_archive([zeros_member("small.txt", 1024, claimed=1024)]))
        code, peak, report, stderr, seconds = measured_scan(str(path))
        assert (code, report["findings"]) == (0, []), stderr
        assert "liar.zip" in stderr
        assert peak < BOMB_RSS_KIB, f"peak RSS {peak} KiB"
        assert seconds < BOMB_SECONDS

    def test_many_members_share_one_budget(self, tmp_path: Path) -> None:
        """Twenty members of 16 MiB each (under the ratio limit one by one) stop at the size
        limit for the whole archive, with a warning."""
        big = zeros_member("part", 16)
        members = [(f"part{i:02}.bin", *big[1:]) for i in range(20)]
        path = tmp_path / "parts.zip"
        path.write_bytes(zip_archive(members))
        code, report, _, stderr = scan_json(str(path))
        assert (code, report["findings"]) == (0, [])
        assert "over the size or ratio limit" in stderr

    def test_nesting_within_the_depth_limit_is_followed(self, tmp_path: Path) -> None:
        """A key under MAX_DEPTH layers of gzip is found, with every layer named."""
        c = creds()
        data = ini(c).encode()
        for _ in range(decode.MAX_DEPTH):
            data = gzip.compress(data)
        (tmp_path / "deep.gz").write_bytes(data)
        code, report, _, stderr = scan_json(str(tmp_path))
        assert code == 1
        assert places(report) == [(str(tmp_path / "deep.gz"), 2, 21, ["gzip"] * decode.MAX_DEPTH)]
        assert stderr == ""

    def test_nesting_beyond_the_depth_limit_stops(self, tmp_path: Path) -> None:
        """Past MAX_DEPTH layers keyscan stops unpacking, quickly, and reports nothing."""
        data = ini(creds()).encode()
        for _ in range(decode.MAX_DEPTH + 3):
            data = gzip.compress(data)
        (tmp_path / "deeper.gz").write_bytes(data)
        code, report, _, _ = scan_json(str(tmp_path))
        assert (code, report["findings"]) == (0, [])


# --- noise: decoding never turns random data into findings -------------------------------------


def noise(kind: str, rng: random.Random) -> bytes:
    """About a megabyte of one kind of random data."""
    if kind == "base64-lines":  # a MIME attachment: lines of 76 characters
        return base64.encodebytes(rng.randbytes(768 * 1024))
    if kind == "base64-values":  # long single-line values of every length
        return b"\n".join(
            b"data: " + base64.b64encode(rng.randbytes(rng.randrange(12, 1500)))
            for _ in range(1000)
        )
    if kind == "base64-secret-sized":  # values the size of an encoded secret: the 54== trigger
        return b"\n".join(
            b"  AWS_SECRET_ACCESS_KEY: " + base64.b64encode(rng.randbytes(40))
            for _ in range(10_000)
        )
    if kind == "urlsafe-base64":
        return b"\n".join(base64.urlsafe_b64encode(rng.randbytes(600)) for _ in range(1000))
    if kind == "random-bytes":
        return rng.randbytes(MIB)
    if kind == "url-encoded":
        return "".join(rng.choice("%2F%2B%3DaZ09-_.~&=") for _ in range(MIB)).encode()
    if kind == "escapes":
        pieces = ["\\/", "\\u002F", "\\x2f", "&#47;", "&plus;", "A", "k", "7", "+"]
        return "".join(rng.choice(pieces) for _ in range(200_000)).encode()
    assert kind == "utf-16"
    return "".join(chr(rng.randrange(0x21, 0x7F)) for _ in range(300_000)).encode("utf-16-le")


NOISE = ["base64-lines", "base64-values", "base64-secret-sized", "urlsafe-base64",
         "random-bytes", "url-encoded", "escapes", "utf-16"]  # fmt: skip


class TestNoise:
    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("kind", NOISE)
    def test_random_data_gives_no_finding(self, tmp_path: Path, kind: str, engine: str) -> None:
        """A megabyte of random base64, bytes, URL-encoded or escaped junk, or random UTF-16
        text, produces no finding (decoded values still pass every rule's checks)."""
        (tmp_path / "noise").write_bytes(noise(kind, random.Random(f"{kind}-20260601")))
        started = time.monotonic()
        code, report, _, stderr = scan_json("--engine", engine, str(tmp_path))
        elapsed = time.monotonic() - started
        assert (code, report["findings"]) == (0, [])
        if not kind.startswith("base64"):  # random base64 may decode to a gzip magic: a warning
            assert stderr == ""
        assert elapsed < 10

    def test_html_entity_for_a_newline_keeps_lines(self, tmp_path: Path) -> None:
        """Encoded newlines are not decoded, so lines after them stay where they are."""
        c = creds()
        text = f"a&#10;b%0Ac\\x0a\naws_access_key_id = {c.key}&#x2F;\n"
        (tmp_path / "f.html").write_text(text)
        code, report, _, _ = scan_json(str(tmp_path))
        assert code == 1
        assert [(ln, col) for _, ln, col, _ in places(report)] == [where(text, c.key)]
