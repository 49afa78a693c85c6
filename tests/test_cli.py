"""The command line as a user meets it: exit codes, options, output streams and help.

Keys are generated at run time (tests/keys.py); nothing here is a real-looking key literal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import keys
import pytest
from conftest import run_cli, run_keyscan

from keyscan import __version__
from keyscan.cli import main

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FORMATS = ("text", "json", "jsonl", "sarif", "csv")


def redacted(secret: str) -> str:
    """The redacted form the reports promise: first 4 characters and the length."""
    return f"{secret[:4]}…({len(secret)} chars)"


@dataclass
class Corpus:
    root: Path
    key_id: str
    secret: str
    lone_key_id: str
    lone_secret: str
    session_token: str
    bedrock_long: str
    bedrock_short: str

    @property
    def secrets(self) -> list[str]:
        return [
            self.secret,
            self.lone_secret,
            self.session_token,
            self.bedrock_long,
            self.bedrock_short,
        ]


def make_corpus(root: Path) -> Corpus:
    """A folder holding one of each kind of credential, each in its own file."""
    root.mkdir(parents=True, exist_ok=True)
    c = Corpus(
        root=root,
        key_id=keys.key_id(),
        secret=keys.secret_key(),
        lone_key_id=keys.key_id(),
        lone_secret=keys.secret_key(),
        session_token=keys.session_token(),
        bedrock_long=keys.bedrock_long_term_key(),
        bedrock_short=keys.bedrock_short_term_key(),
    )
    (root / "credentials").write_text(
        f"[default]\naws_access_key_id = {c.key_id}\naws_secret_access_key = {c.secret}\n"
    )
    (root / "lone_key.txt").write_text(f"id: {c.lone_key_id}\n")
    (root / "lone_secret.env").write_text(f"AWS_SECRET_ACCESS_KEY={c.lone_secret}\n")
    (root / "session.json").write_text(f'{{"SessionToken": "{c.session_token}"}}\n')
    (root / "bedrock.sh").write_text(
        f"export LONG={c.bedrock_long}\nexport SHORT={c.bedrock_short}\n"
    )
    return c


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return make_corpus(tmp_path / "corpus")


@pytest.fixture
def clean_dir(tmp_path: Path) -> Path:
    root = tmp_path / "clean"
    root.mkdir()
    (root / "README.md").write_text("# nothing to see\n\nJust prose, AKIA and a short token.\n")
    (root / "main.py").write_text('import os\nkey = os.environ["AWS_SECRET_ACCESS_KEY"]\n')
    return root


class TestExitCodes:
    def test_clean_folder_exits_0(self, clean_dir: Path) -> None:
        """A folder without credentials exits 0 and says nothing was found."""
        result = run_cli("scan", str(clean_dir))
        assert result.exit_code == 0, result.output
        assert "No AWS credentials found" in result.stdout

    def test_findings_exit_1(self, corpus: Corpus) -> None:
        """A folder with credentials exits 1."""
        result = run_cli("scan", str(corpus.root))
        assert result.exit_code == 1, result.output

    def test_missing_path_exits_2_and_says_what_to_do(self, tmp_path: Path) -> None:
        """A path that does not exist exits 2 with a message naming it and the next step."""
        missing = tmp_path / "no-such-dir"
        result = run_cli("scan", str(missing))
        assert result.exit_code == 2
        assert str(missing) in result.stderr
        assert "not found" in result.stderr
        assert "Check the spelling" in result.stderr
        assert result.stdout == ""

    def test_missing_patterns_file_exits_2(self, clean_dir: Path, tmp_path: Path) -> None:
        """A --patterns file that does not exist exits 2 and names the file."""
        missing = tmp_path / "nope.toml"
        result = run_cli("scan", "--patterns", str(missing), str(clean_dir))
        assert result.exit_code == 2
        assert str(missing) in result.stderr

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ("[[rules]\nid = ", "not valid TOML"),
            ("title = 'no rules here'\n", "no [[rules]]"),
            (
                "[[rules]]\nid = 'x.broken'\nkind = 'access_key_id'\ndescription = 'd'\n"
                "prefilter = 'AKIA'\npattern = '(?P<key_id>AKIA['\n",
                "does not compile",
            ),
            (
                "[[rules]]\nid = 'x.kind'\nkind = 'password'\ndescription = 'd'\n"
                "prefilter = 'AKIA'\npattern = '(?P<key_id>AKIA)'\n",
                "kind",
            ),
            (
                "[[rules]]\nid = 'aws.access-key-id'\nkind = 'access_key_id'\ndescription = 'd'\n"
                "prefilter = 'AKIA'\npattern = '(?P<key_id>AKIA)'\n",
                "already defined",
            ),
        ],
        ids=["bad-toml", "no-rules", "bad-regex", "bad-kind", "duplicate-id"],
    )
    def test_bad_patterns_file_exits_2(
        self, clean_dir: Path, tmp_path: Path, content: str, expected: str
    ) -> None:
        """A malformed --patterns file exits 2 with a message saying what is wrong with it."""
        bad = tmp_path / "bad.toml"
        bad.write_text(content)
        result = run_cli("scan", "--patterns", str(bad), str(clean_dir))
        assert result.exit_code == 2, result.output
        assert expected in result.stderr
        assert str(bad) in result.stderr

    def test_unwritable_output_exits_2(self, corpus: Corpus, tmp_path: Path) -> None:
        """An --output path in a folder that does not exist exits 2 and asks for another path."""
        target = tmp_path / "missing-dir" / "report.txt"
        result = run_cli("scan", "--output", str(target), str(corpus.root))
        assert result.exit_code == 2
        assert str(target) in result.stderr
        assert "--output" in result.stderr
        assert not target.exists()

    def test_output_that_is_a_directory_exits_2(self, corpus: Corpus, tmp_path: Path) -> None:
        """An --output path that is a folder is a usage error (exit 2)."""
        result = run_cli("scan", "--output", str(tmp_path), str(corpus.root))
        assert result.exit_code == 2
        assert "directory" in result.stderr

    def test_unknown_option_exits_2(self, clean_dir: Path) -> None:
        """An unknown option is a usage error (exit 2) that names the option."""
        result = run_cli("scan", "--no-such-option", str(clean_dir))
        assert result.exit_code == 2
        assert "--no-such-option" in result.stderr

    def test_scan_without_paths_exits_2(self) -> None:
        """`keyscan scan` with no path is a usage error (exit 2)."""
        result = run_cli("scan")
        assert result.exit_code == 2
        assert "PATH" in result.stderr

    @pytest.mark.parametrize(
        "make_args",
        [
            lambda c, t: ["scan", str(c.root), str(t / "missing")],
            lambda c, t: ["scan", "--patterns", str(t / "missing.toml"), str(c.root)],
            lambda c, t: ["scan", "--output", str(t / "no" / "dir.txt"), str(c.root)],
            lambda c, t: ["scan", "--output", str(t), str(c.root)],
            lambda c, t: ["scan", "--format", "xml", str(c.root)],
            lambda c, t: ["scan", "--bogus", str(c.root)],
        ],
        ids=[
            "missing-path",
            "missing-patterns",
            "unwritable-output",
            "output-is-dir",
            "bad-format",
            "unknown-option",
        ],
    )
    def test_error_never_exits_1_even_with_findings(
        self, corpus: Corpus, tmp_path: Path, make_args: Callable[[Corpus, Path], list[str]]
    ) -> None:
        """An error exits 2 even when the scanned folder holds credentials, never 1."""
        result = run_cli(*make_args(corpus, tmp_path))
        assert result.exit_code == 2, result.output


class TestOutputFile:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_output_writes_report_and_nothing_to_stdout(
        self, corpus: Corpus, tmp_path: Path, fmt: str
    ) -> None:
        """--output FILE writes the whole report to FILE and prints nothing on stdout."""
        target = tmp_path / f"report.{fmt}"
        result = run_cli("scan", "--format", fmt, "--output", str(target), str(corpus.root))
        assert result.exit_code == 1
        assert result.stdout == ""
        report = target.read_text(encoding="utf-8")
        assert corpus.key_id in report
        assert corpus.lone_key_id in report
        if fmt == "json":
            assert len(json.loads(report)["findings"]) == 6
        elif fmt == "text":
            assert "6 findings" in report
        assert ANSI.search(report) is None

    def test_max_locations_caps_the_list_and_counts_the_rest(self, tmp_path: Path) -> None:
        """--max-locations N lists N places per finding and counts the others in every format."""
        key = keys.key_id()
        for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
            (tmp_path / name).write_text(f"{key}\n")
        result = run_cli("scan", "--max-locations", "2", "-f", "json", str(tmp_path))
        (finding,) = json.loads(result.stdout)["findings"]
        assert [loc["path"] for loc in finding["locations"]] == [
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.txt"),
        ]
        assert finding["locations_omitted"] == 2
        text = run_cli("scan", "--max-locations", "2", str(tmp_path)).stdout
        assert "and 2 more" in text
        assert str(tmp_path / "c.txt") not in text

    def test_output_overwrites_an_existing_file(self, corpus: Corpus, tmp_path: Path) -> None:
        """An existing --output file is replaced, not appended to."""
        target = tmp_path / "report.json"
        target.write_text("stale content that is not JSON\n")
        result = run_cli("scan", "-f", "json", "-o", str(target), str(corpus.root))
        assert result.exit_code == 1
        assert json.loads(target.read_text(encoding="utf-8"))["version"] == 1


class TestSecrets:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_secrets_are_redacted_in_every_format(self, corpus: Corpus, fmt: str) -> None:
        """Without --show-secrets no format prints a secret: only its first 4 characters, length."""
        result = run_cli("scan", "--format", fmt, str(corpus.root))
        assert result.exit_code == 1
        everything = result.stdout + result.stderr
        for secret in corpus.secrets:
            assert secret not in everything
            assert secret[4:] not in everything
            assert redacted(secret) in result.stdout

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_show_secrets_prints_them_in_full(self, corpus: Corpus, fmt: str) -> None:
        """--show-secrets prints every secret in full, in every format."""
        result = run_cli("scan", "--show-secrets", "--format", fmt, str(corpus.root))
        assert result.exit_code == 1
        for secret in corpus.secrets:
            assert secret in result.stdout
            assert redacted(secret) not in result.stdout

    def test_redacted_secret_in_json_fields(self, corpus: Corpus) -> None:
        """The JSON `secret` field holds the redacted form and `key_id` the key ID in full."""
        result = run_cli("scan", "-f", "json", str(corpus.root))
        findings = {f["key_id"]: f for f in json.loads(result.stdout)["findings"] if f["key_id"]}
        assert findings[corpus.key_id]["secret"] == redacted(corpus.secret)
        assert findings[corpus.lone_key_id]["secret"] is None

    def test_redacted_secret_in_csv_column(self, corpus: Corpus) -> None:
        """The CSV `secret` column holds the redacted form."""
        result = run_cli("scan", "-f", "csv", str(corpus.root))
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        by_key = {row["key_id"]: row for row in rows if row["key_id"]}
        assert by_key[corpus.key_id]["secret"] == redacted(corpus.secret)


class TestStdin:
    def test_dash_reads_standard_input(self) -> None:
        """`keyscan scan -` scans standard input and reports the place as (stdin) with its line."""
        key, secret = keys.key_id(), keys.secret_key()
        text = f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        result = run_cli("scan", "-", input=text)
        assert result.exit_code == 1, result.output
        assert key in result.stdout
        assert "(stdin):2:21" in result.stdout

    def test_dash_in_json_has_stdin_source_and_no_path(self) -> None:
        """A finding on standard input has source "stdin" and path null in JSON."""
        key = keys.key_id()
        result = run_cli("scan", "-f", "json", "-", input=f"x\n  {key}\n".encode())
        assert result.exit_code == 1
        (finding,) = json.loads(result.stdout)["findings"]
        assert finding["locations"] == [
            {"source": "stdin", "path": None, "line": 2, "column": 3, "decoded": []}
        ]

    def test_clean_standard_input_exits_0(self) -> None:
        """Standard input without credentials exits 0."""
        result = run_cli("scan", "-", input="hello\nworld\n")
        assert result.exit_code == 0
        assert "No AWS credentials found" in result.stdout

    def test_dash_together_with_a_folder(self, corpus: Corpus) -> None:
        """`-` can be mixed with folders: both are scanned."""
        key = keys.key_id()
        result = run_cli("scan", "-f", "json", str(corpus.root), "-", input=f"{key}\n")
        keys_found = {f["key_id"] for f in json.loads(result.stdout)["findings"]}
        assert {key, corpus.key_id, corpus.lone_key_id} <= keys_found


def _walk_commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    out = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            out.extend(_walk_commands(sub, (*path, name)))
    return out


ALL_COMMANDS = _walk_commands(main)


class TestHelp:
    def test_walk_finds_the_known_commands(self) -> None:
        """The command walk sees every command, so the help tests below cover them all."""
        paths = {" ".join(path) for path, _ in ALL_COMMANDS}
        assert {"", "scan", "rules", "rules list", "rules check"} <= paths

    @pytest.mark.parametrize(
        ("path", "command"), ALL_COMMANDS, ids=[" ".join(p) or "keyscan" for p, _ in ALL_COMMANDS]
    )
    @pytest.mark.parametrize("flag", ["--help", "-h"])
    def test_every_command_has_help(
        self, path: tuple[str, ...], command: click.Command, flag: str
    ) -> None:
        """Every command and subcommand answers --help and -h with exit 0 and its own help text."""
        assert command.help and command.help.strip(), f"{path} has no docstring"
        result = run_cli(*path, flag)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.stdout
        first_line = command.help.strip().splitlines()[0]
        assert first_line in result.stdout
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"option {param.opts} of {path} has no help"
                assert param.opts[-1] in result.stdout

    def test_version(self) -> None:
        """--version prints the program name and version and exits 0."""
        result = run_cli("--version")
        assert result.exit_code == 0
        assert result.stdout.strip() == f"keyscan, version {__version__}"

    def test_top_level_help_documents_exit_codes(self) -> None:
        """The top-level help tells what each exit code means."""
        result = run_cli("--help")
        assert "0 nothing found" in result.stdout
        assert "1 findings" in result.stdout
        assert "2 error" in result.stdout


class TestIncludeFlags:
    def test_examples_are_ignored_by_default(self, tmp_path: Path) -> None:
        """AWS documentation examples are not reported without --include-examples."""
        (tmp_path / "doc.md").write_text("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
        result = run_cli("scan", str(tmp_path))
        assert result.exit_code == 0
        assert "AKIAIOSFODNN7EXAMPLE" not in result.stdout

    def test_include_examples_reports_them_as_info(self, tmp_path: Path) -> None:
        """--include-examples reports documentation examples, marked as such, at info severity."""
        (tmp_path / "doc.md").write_text("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
        result = run_cli("scan", "--include-examples", "-f", "json", str(tmp_path))
        # No failure threshold exists yet: any reported finding exits 1.
        assert result.exit_code == 1
        (finding,) = json.loads(result.stdout)["findings"]
        assert finding["key_id"] == "AKIAIOSFODNN7EXAMPLE"
        assert finding["example"] is True
        assert finding["severity"] == "info"
        text = run_cli("scan", "--include-examples", str(tmp_path)).stdout
        assert "AWS documentation example" in text

    def test_identifiers_are_ignored_by_default(self, tmp_path: Path) -> None:
        """IAM unique IDs (AIDA…, AROA…) are not reported without --include-identifiers."""
        user_id = keys.key_id("AIDA")
        (tmp_path / "policy.json").write_text(f'{{"UserId": "{user_id}"}}\n')
        result = run_cli("scan", str(tmp_path))
        assert result.exit_code == 0
        assert user_id not in result.stdout

    def test_include_identifiers_reports_them_as_info(self, tmp_path: Path) -> None:
        """--include-identifiers reports IAM unique IDs as info-level identifiers."""
        user_id, role_id = keys.key_id("AIDA"), keys.key_id("AROA")
        (tmp_path / "policy.json").write_text(
            f'{{"UserId": "{user_id}",\n "RoleId": "{role_id}"}}\n'
        )
        result = run_cli("scan", "--include-identifiers", "-f", "json", str(tmp_path))
        findings = {f["key_id"]: f for f in json.loads(result.stdout)["findings"]}
        assert set(findings) == {user_id, role_id}
        assert findings[user_id]["kind"] == "identifier"
        assert findings[user_id]["severity"] == "info"
        assert findings[user_id]["key_type"] == "iam_user_id"
        assert findings[role_id]["key_type"] == "iam_role_id"


def _headers(stdout: str) -> list[str]:
    """The first line of each finding block in the text report."""
    return [line for line in stdout.splitlines() if line and not line.startswith(" ")][:-1]


class TestTextReport:
    def test_one_block_per_credential_with_every_place(self, tmp_path: Path) -> None:
        """A credential seen in several files is one finding listing file:line for each place."""
        key, secret = keys.key_id(), keys.secret_key()
        body = f"aws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        (tmp_path / "a.ini").write_text(body)
        (tmp_path / "b.ini").write_text("# copy\n\n" + body)
        result = run_cli("scan", str(tmp_path))
        assert result.exit_code == 1
        assert result.stdout.count(key) == 1
        assert f"{tmp_path / 'a.ini'}:1:21" in result.stdout
        assert f"{tmp_path / 'b.ini'}:3:21" in result.stdout
        assert result.stdout.splitlines()[-1].startswith("1 finding (1 critical)")

    def test_most_severe_first(self, tmp_path: Path) -> None:
        """Findings are ordered critical, high, medium, info whatever the file order."""
        (tmp_path / "a-example.txt").write_text("AKIAIOSFODNN7EXAMPLE\n")
        (tmp_path / "b-temporary.txt").write_text(f"{keys.key_id('ASIA')}\n")
        (tmp_path / "c-long-term.txt").write_text(f"{keys.key_id()}\n")
        (tmp_path / "d-pair.txt").write_text(f"{keys.key_id()} {keys.secret_key()}\n")
        result = run_cli("scan", "--include-examples", str(tmp_path))
        levels = [h.split()[0] for h in _headers(result.stdout)]
        assert levels == ["CRITICAL", "HIGH", "MEDIUM", "INFO"]

    def test_key_ids_and_places_in_full(self, corpus: Corpus) -> None:
        """Key IDs are printed in full and every place is shown as path:line:column."""
        result = run_cli("scan", str(corpus.root))
        out = result.stdout
        assert corpus.key_id in out
        assert corpus.lone_key_id in out
        for where in (
            f"{corpus.root / 'credentials'}:2:21",
            f"{corpus.root / 'lone_key.txt'}:1:5",
            f"{corpus.root / 'lone_secret.env'}:1:1",
            f"{corpus.root / 'session.json'}:1:3",
            f"{corpus.root / 'bedrock.sh'}:1:13",
            f"{corpus.root / 'bedrock.sh'}:2:14",
        ):
            assert where in out

    def test_summary_line_counts_by_severity(self, corpus: Corpus) -> None:
        """The last line counts findings by severity, files (blobs) and bytes scanned."""
        result = run_cli("scan", str(corpus.root))
        size = sum(p.stat().st_size for p in corpus.root.iterdir())
        last = result.stdout.splitlines()[-1]
        assert re.fullmatch(
            rf"6 findings \(3 critical, 3 high\) · 5 (?:files|blobs), {size / 1024:.1f} KB"
            r" in \d+\.\d\d s",
            last,
        ), last

    def test_summary_line_singular(self, tmp_path: Path) -> None:
        """One finding in one file is summarised in the singular: "1 finding", "1 file"/"1 blob"."""
        (tmp_path / "k.txt").write_text(f"{keys.key_id()}\n")
        last = run_cli("scan", str(tmp_path)).stdout.splitlines()[-1]
        assert re.fullmatch(r"1 finding \(1 high\) · 1 (?:file|blob), 21 B in \d+\.\d\d s", last), (
            last
        )

    def test_color_flag_adds_ansi_codes(self, corpus: Corpus) -> None:
        """--color colors the text report."""
        result = run_cli("scan", "--color", str(corpus.root))
        assert ANSI.search(result.stdout)
        assert corpus.key_id in ANSI.sub("", result.stdout)

    def test_no_color_flag_has_no_ansi_codes(self, corpus: Corpus) -> None:
        """--no-color prints plain text."""
        result = run_cli("scan", "--no-color", str(corpus.root))
        assert "\x1b" not in result.stdout

    def test_no_color_when_not_a_terminal(self, corpus: Corpus) -> None:
        """Without --color, output to a pipe has no ANSI codes."""
        result = run_keyscan("scan", str(corpus.root))
        assert result.returncode == 1
        assert b"\x1b" not in result.stdout

    @pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "csv"])
    def test_color_never_reaches_machine_formats(self, corpus: Corpus, fmt: str) -> None:
        """--color only affects the text report; machine formats stay plain."""
        result = run_cli("scan", "--color", "-f", fmt, str(corpus.root))
        assert "\x1b" not in result.stdout


class TestSelfScan:
    def test_keyscan_repository_has_no_findings(self) -> None:
        """`keyscan scan .` on keyscan's own repository exits 0 and reports nothing."""
        result = run_keyscan("scan", ".", cwd=REPO, timeout=300)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        assert b"No AWS credentials found" in result.stdout
