"""Project settings (.keyscan.toml, [tool.keyscan]) and suppression (baseline, allow-list,
`keyscan:allow`, excluded paths), driven through the CLI on folders built in tmp_path.

Keys are generated at run time (tests/keys.py). A suppressed finding is never lost: every
test that holds one back also checks that it is counted.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

import keys
import pytest
from conftest import key_ids, run_cli, scan_json
from gitrepo import GitRepo


def lone_key(key: str) -> str:
    """A settings file holding one key ID (a high finding) on its second line."""
    return f"# settings\naws_access_key_id = {key}\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder (no git) with one key in src/ and another in tests/fixtures/."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "tests" / "fixtures").mkdir(parents=True)
    return root


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the settings file ---------------------------------------------------------------------


class TestConfigFile:
    def test_unknown_key_is_an_error_naming_it(self, folder: Path) -> None:
        """A misspelt key exits 2 and names the key and the file, not a silent default."""
        write(folder, ".keyscan.toml", 'exclude_paths = ["tests/"]\n')
        result = run_cli("scan", str(folder))
        assert result.exit_code == 2, result.output
        assert "unknown key 'exclude_paths'" in result.stderr
        assert ".keyscan.toml" in result.stderr
        assert "exclude-paths" in result.stderr  # the known keys are listed

    def test_unknown_key_in_pyproject_names_the_table(self, folder: Path) -> None:
        """An unknown key under [tool.keyscan] exits 2 and names it with its table."""
        write(folder, "pyproject.toml", "[tool.keyscan]\nfail_on = 'high'\n")
        result = run_cli("scan", str(folder))
        assert result.exit_code == 2
        assert "'tool.keyscan.fail_on'" in result.stderr

    @pytest.mark.parametrize(
        ("line", "named"),
        [
            ('allow = "AKIA"\n', "allow"),
            ("exclude-paths = [1, 2]\n", "exclude-paths"),
            ('fail-on = "severe"\n', "fail-on"),
            ("baseline = 3\n", "baseline"),
            ('patterns = "rules.toml"\n', "patterns"),
        ],
    )
    def test_wrong_type_is_an_error(self, folder: Path, line: str, named: str) -> None:
        """A value of the wrong type exits 2 and names the key and what it must be."""
        write(folder, ".keyscan.toml", line)
        result = run_cli("scan", str(folder))
        assert result.exit_code == 2, result.output
        assert f"{named} in" in result.stderr and "must be" in result.stderr

    def test_invalid_toml_is_an_error(self, folder: Path) -> None:
        """A settings file that is not TOML exits 2 and says so."""
        write(folder, ".keyscan.toml", "exclude-paths = [\n")
        result = run_cli("scan", str(folder))
        assert result.exit_code == 2
        assert "is not valid TOML" in result.stderr

    def test_exclude_paths_glob(self, folder: Path) -> None:
        """A key only under an excluded glob is held back (and counted); keys elsewhere and
        keys also seen outside the excluded folder still count, at their other places only."""
        hidden, shown, both = keys.key_id(), keys.key_id(), keys.key_id()
        write(folder, ".keyscan.toml", 'exclude-paths = ["tests/fixtures/**", "*.sample"]\n')
        write(folder, "tests/fixtures/deep/aws.env", lone_key(hidden))
        write(folder, "config.sample", lone_key(hidden))
        write(folder, "src/app.env", lone_key(shown))
        write(folder, "tests/fixtures/both.env", lone_key(both))
        write(folder, "src/both.env", lone_key(both))
        code, report, _ = scan_json(str(folder))
        assert code == 1
        assert key_ids(report) == {shown, both}
        [again] = [f for f in report["findings"] if f["key_id"] == both]
        assert [loc["path"].endswith("src/both.env") for loc in again["locations"]] == [True]
        assert report["suppressed"] == {"excluded path": 1}

    def test_allow_by_key_id_secret_and_fingerprint(self, folder: Path) -> None:
        """`allow` accepts a key ID, a secret or a finding's fingerprint."""
        by_id, by_fingerprint, kept = (keys.key_id() for _ in range(3))
        secret = keys.secret_key()
        write(folder, "src/a.env", lone_key(by_id))
        write(folder, "src/b.env", f"AWS_SECRET_ACCESS_KEY={secret}\n")
        write(folder, "src/c.env", lone_key(by_fingerprint))
        write(folder, "src/d.env", lone_key(kept))
        _, before, _ = scan_json(str(folder))
        [fingerprint] = [f["id"] for f in before["findings"] if f["key_id"] == by_fingerprint]
        allow = json.dumps([by_id, secret, fingerprint])
        write(folder, ".keyscan.toml", f"allow = {allow}\n")
        code, report, _ = scan_json(str(folder))
        assert code == 1
        assert key_ids(report) == {kept}
        assert len(report["findings"]) == 1  # the lone secret is held back too
        # The settings file itself holds the allowed key ID and secret side by side: keyscan
        # reads them as a key pair, which the allow-list holds back as well.
        assert report["suppressed"] == {"allow-list": 4}

    def test_fail_on_from_config_and_the_flag_overrides_it(self, folder: Path) -> None:
        """`fail-on` in the config sets the threshold; `--fail-on` on the command line wins.
        Findings below the threshold are still reported."""
        key = keys.key_id()  # a lone long-term key ID: high
        write(folder, "src/app.env", lone_key(key))
        write(folder, ".keyscan.toml", 'fail-on = "critical"\n')
        result = run_cli("scan", str(folder))
        assert result.exit_code == 0, result.output
        assert key in result.stdout
        assert run_cli("scan", "--fail-on", "high", str(folder)).exit_code == 1
        assert run_cli("scan", "--fail-on", "any", str(folder)).exit_code == 1
        write(folder, ".keyscan.toml", 'fail-on = "high"\n')
        assert run_cli("scan", str(folder)).exit_code == 1
        assert run_cli("scan", "--fail-on", "none", str(folder)).exit_code == 0

    def test_fail_on_levels(self, folder: Path) -> None:
        """A lone temporary key ID is medium: it fails at medium and below, not at high."""
        write(folder, "src/app.env", lone_key(keys.key_id("ASIA")))
        codes = {
            level: run_cli("scan", "--fail-on", level, str(folder)).exit_code
            for level in ("any", "info", "low", "medium", "high", "critical", "none")
        }
        assert codes == {
            "any": 1, "info": 1, "low": 1, "medium": 1, "high": 0, "critical": 0, "none": 0,
        }  # fmt: skip

    def test_bad_fail_on_flag_is_a_usage_error(self, folder: Path) -> None:
        """An unknown `--fail-on` level is a usage error (exit 2), not a finding."""
        assert run_cli("scan", "--fail-on", "severe", str(folder)).exit_code == 2

    def test_tool_keyscan_in_pyproject(self, folder: Path) -> None:
        """Settings in [tool.keyscan] of pyproject.toml apply when there is no .keyscan.toml."""
        allowed, kept = keys.key_id(), keys.key_id()
        write(
            folder,
            "pyproject.toml",
            f'[project]\nname = "x"\n\n[tool.keyscan]\nallow = ["{allowed}"]\n',
        )
        write(folder, "src/a.env", lone_key(allowed))
        write(folder, "src/b.env", lone_key(kept))
        code, report, _ = scan_json(str(folder))
        assert code == 1
        assert key_ids(report) == {kept}
        assert report["suppressed"] == {"allow-list": 1}

    def test_pyproject_without_a_keyscan_table_is_fine(self, folder: Path) -> None:
        """A pyproject.toml with no [tool.keyscan] table means default settings."""
        write(folder, "pyproject.toml", '[project]\nname = "x"\n')
        write(folder, "src/a.env", lone_key(keys.key_id()))
        assert run_cli("scan", str(folder)).exit_code == 1

    def test_keyscan_toml_wins_over_pyproject(self, folder: Path) -> None:
        """.keyscan.toml is used instead of [tool.keyscan] when both exist."""
        key = keys.key_id()
        write(folder, "pyproject.toml", f'[tool.keyscan]\nallow = ["{key}"]\n')
        write(folder, ".keyscan.toml", "allow = []\n")
        write(folder, "src/a.env", lone_key(key))
        code, report, _ = scan_json(str(folder))
        assert code == 1 and key_ids(report) == {key}

    def test_explicit_config_file(self, folder: Path, tmp_path: Path) -> None:
        """`--config FILE` is used instead of the project's own settings; a missing one is an
        error."""
        key = keys.key_id()
        write(folder, "src/a.env", lone_key(key))
        elsewhere = write(tmp_path, "ci/keyscan.toml", f'allow = ["{key}"]\n')
        assert run_cli("scan", "--config", str(elsewhere), str(folder)).exit_code == 0
        result = run_cli("scan", "--config", str(tmp_path / "missing.toml"), str(folder))
        assert result.exit_code == 2
        assert "does not exist" in result.stderr

    def test_patterns_adds_a_rule_file(self, folder: Path) -> None:
        """`patterns` names extra rule files relative to the settings file; their rules run."""
        alphabet = string.ascii_letters + string.digits
        token = "deploytok_" + "".join(secrets.choice(alphabet) for _ in range(32))
        write(
            folder,
            "keyscan-rules/internal.toml",
            """\
[[rules]]
id = "example.internal-token"
kind = "secret_access_key"
description = "Internal deploy token"
prefilter = 'deploytok_'
pattern = '(?<![A-Za-z0-9])(?P<secret>deploytok_[A-Za-z0-9]{32})(?![A-Za-z0-9])'
window = [16, 64]
entropy = 3.5
""",
        )
        write(folder, "src/deploy.sh", f"TOKEN={token}\n")
        code, report, _ = scan_json(str(folder))
        assert code == 0 and report["findings"] == []
        write(folder, ".keyscan.toml", 'patterns = ["keyscan-rules/internal.toml"]\n')
        code, report, _ = scan_json(str(folder))
        assert code == 1
        assert [f["rule"] for f in report["findings"]] == ["example.internal-token"]

    def test_missing_rule_file_is_an_error(self, folder: Path) -> None:
        """A `patterns` entry naming no file exits 2."""
        write(folder, ".keyscan.toml", 'patterns = ["nowhere.toml"]\n')
        assert run_cli("scan", str(folder)).exit_code == 2

    def test_settings_are_found_at_the_repository_root(self, tmp_path: Path) -> None:
        """Scanning a folder inside a repository uses the settings at the repository's top."""
        repo = GitRepo.init(tmp_path / "repo")
        key = keys.key_id()
        repo.write(".keyscan.toml", f'allow = ["{key}"]\n')
        repo.write("src/deep/app.env", lone_key(key))
        code, report, _ = scan_json(str(repo.path / "src"))
        assert code == 0
        assert report["suppressed"] == {"allow-list": 1}


# --- inline markers and counting ----------------------------------------------------------------


class TestSuppressionCounts:
    @pytest.fixture
    def held(self, folder: Path) -> tuple[Path, str, str, str]:
        """A folder with a baselined key, an inline-allowed key and a key that counts."""
        baselined, allowed, counted = keys.key_id(), keys.key_id(), keys.key_id()
        write(folder, "tests/fixtures/old.env", lone_key(baselined))
        result = run_cli("baseline", "create", str(folder))
        assert result.exit_code == 0, result.output
        write(folder, "tests/test_auth.py", f'KEY = "{allowed}"  # keyscan:allow\n')
        write(folder, "src/app.env", lone_key(counted))
        return folder, baselined, allowed, counted

    def test_text_counts_suppressed(self, held: tuple[Path, str, str, str]) -> None:
        """The text summary counts held-back findings by reason and never lists them."""
        folder, baselined, allowed, counted = held
        result = run_cli("scan", str(folder))
        assert result.exit_code == 1
        assert counted in result.stdout
        assert baselined not in result.stdout and allowed not in result.stdout
        last = result.stdout.strip().splitlines()[-1]
        assert last == "2 suppressed (1 by baseline, 1 by keyscan:allow; --no-suppress shows them)"

    def test_json_counts_suppressed(self, held: tuple[Path, str, str, str]) -> None:
        """The JSON report counts held-back findings by reason under `suppressed`."""
        folder, _, _, counted = held
        code, report, _ = scan_json(str(folder))
        assert code == 1
        assert key_ids(report) == {counted}
        assert report["suppressed"] == {"baseline": 1, "keyscan:allow": 1}
        assert [f["suppressed"] for f in report["findings"]] == [None]

    def test_sarif_marks_suppressed_results(self, held: tuple[Path, str, str, str]) -> None:
        """SARIF carries suppressed results with their suppression (inSource for an inline
        marker, external for the baseline), so code scanning shows them dismissed."""
        folder, baselined, allowed, counted = held
        result = run_cli("scan", "-f", "sarif", str(folder))
        assert result.exit_code == 1
        results = json.loads(result.stdout)["runs"][0]["results"]
        by_key = {r["properties"]["keyId"]: r for r in results}
        assert set(by_key) == {baselined, allowed, counted}
        assert "suppressions" not in by_key[counted]
        assert [s["kind"] for s in by_key[baselined]["suppressions"]] == ["external"]
        assert [s["kind"] for s in by_key[allowed]["suppressions"]] == ["inSource"]
        assert by_key[baselined]["properties"]["suppressedBy"] == "baseline"

    def test_no_suppress_reports_them_and_they_count(
        self, held: tuple[Path, str, str, str]
    ) -> None:
        """`--no-suppress` lists every held-back finding with its reason."""
        folder, baselined, allowed, counted = held
        code, report, _ = scan_json("--no-suppress", str(folder))
        assert code == 1
        reasons = {f["key_id"]: f["suppressed"] for f in report["findings"]}
        assert reasons == {baselined: "baseline", allowed: "keyscan:allow", counted: None}
        assert report["suppressed"] == {}
        text = run_cli("scan", "--no-suppress", str(folder)).stdout
        assert "suppressed by baseline (reported because of --no-suppress)" in text

    def test_no_suppress_fails_on_held_findings_alone(self, folder: Path) -> None:
        """Held-back findings alone exit 0; with --no-suppress they exit 1."""
        write(folder, "src/app.py", f'KEY = "{keys.key_id()}"  # keyscan:allow\n')
        assert run_cli("scan", str(folder)).exit_code == 0
        assert run_cli("scan", "--no-suppress", str(folder)).exit_code == 1

    def test_inline_allow_covers_only_its_line(self, folder: Path) -> None:
        """A key allowed on one line but present unmarked elsewhere still counts, listed at the
        unmarked place only."""
        key = keys.key_id()
        write(folder, "tests/test_auth.py", f'KEY = "{key}"  # keyscan:allow\n')
        write(folder, "src/app.py", f'# the same key, unmarked\nKEY = "{key}"\n')
        code, report, _ = scan_json(str(folder))
        assert code == 1
        [finding] = report["findings"]
        assert [(loc["path"].rsplit("/", 1)[-1], loc["line"]) for loc in finding["locations"]] == [
            ("app.py", 2)
        ]


# --- the baseline file ------------------------------------------------------------------------


class TestBaselineFile:
    def test_create_writes_fingerprints_not_secrets(self, folder: Path) -> None:
        """The baseline lists each finding's fingerprint and no secret or full key ID; a scan
        then holds those findings back."""
        key, secret = keys.key_id(), keys.secret_key()
        write(
            folder, "src/aws.env", f"aws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        )
        _, before, _ = scan_json(str(folder))
        result = run_cli("baseline", "create", str(folder))
        assert result.exit_code == 0, result.output
        text = (folder / ".keyscan-baseline.json").read_text()
        assert key not in text and secret not in text and key[4:] not in text
        document = json.loads(text)
        assert [e["fingerprint"] for e in document["findings"]] == [
            f["id"] for f in before["findings"]
        ]
        code, report, _ = scan_json(str(folder))
        assert code == 0 and report["findings"] == []
        assert report["suppressed"] == {"baseline": 1}

    def test_create_refuses_to_overwrite_without_force(self, folder: Path) -> None:
        write(folder, "src/a.env", lone_key(keys.key_id()))
        assert run_cli("baseline", "create", str(folder)).exit_code == 0
        baseline = folder / ".keyscan-baseline.json"
        first = baseline.read_text()
        write(folder, "src/b.env", lone_key(keys.key_id()))
        result = run_cli("baseline", "create", str(folder))
        assert result.exit_code == 2
        assert "--force" in result.stderr and "keyscan baseline update" in result.stderr
        assert baseline.read_text() == first
        assert run_cli("baseline", "create", "--force", str(folder)).exit_code == 0
        assert len(json.loads(baseline.read_text())["findings"]) == 2

    def test_update_adds_only_new_findings(self, folder: Path) -> None:
        """`baseline update` creates the baseline, then adds only findings not yet in it."""
        write(folder, "src/a.env", lone_key(keys.key_id()))
        result = run_cli("baseline", "update", str(folder))  # creates it
        assert result.exit_code == 0, result.output
        assert "1 new findings" in result.stderr
        write(folder, "src/b.env", lone_key(keys.key_id()))
        result = run_cli("baseline", "update", str(folder))
        assert "1 new findings" in result.stderr and "(2 in all)" in result.stderr

    def test_explicit_baseline_option(self, folder: Path, tmp_path: Path) -> None:
        """`--output` writes the baseline elsewhere; `--baseline FILE` reads it from there."""
        write(folder, "src/a.env", lone_key(keys.key_id()))
        elsewhere = tmp_path / "accepted.json"
        assert run_cli("baseline", "create", "--output", str(elsewhere), str(folder)).exit_code == 0
        assert not (folder / ".keyscan-baseline.json").exists()
        assert run_cli("scan", str(folder)).exit_code == 1
        assert run_cli("scan", "--baseline", str(elsewhere), str(folder)).exit_code == 0

    def test_update_from_a_subfolder_writes_at_the_repository_root(self, tmp_path: Path) -> None:
        """The baseline goes to the repository's top, whichever folder of it is scanned."""
        repo = GitRepo.init(tmp_path / "repo")
        repo.write("src/a.env", lone_key(keys.key_id()))
        result = run_cli("baseline", "update", str(repo.path / "src"))
        assert result.exit_code == 0, result.output
        assert (repo.path / ".keyscan-baseline.json").is_file()
        assert not (repo.path / "src" / ".keyscan-baseline.json").exists()

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("{not json", "cannot read the baseline"),
            ('{"version": 1, "findings": [{"fingerprint": "abc"}]}', "is not a keyscan baseline"),
            ('{"version": 99, "findings": []}', "is not a keyscan baseline"),
            ("[]", "is not a keyscan baseline"),
        ],
    )
    def test_corrupt_baseline_is_an_error(self, folder: Path, content: str, message: str) -> None:
        """A baseline that cannot be used exits 2 (it never silently drops the baseline, nor
        turns every held finding into a new one) and says how to repair it."""
        write(folder, ".keyscan-baseline.json", content)
        write(folder, "src/a.env", lone_key(keys.key_id()))
        result = run_cli("scan", str(folder))
        assert result.exit_code == 2
        assert message in result.stderr
        assert "keyscan baseline create --force" in result.stderr


# --- baselines that do not exist yet, or cannot be read -----------------------------------


def _lone_key(key: str) -> str:
    return f"# settings\naws_access_key_id = {key}\n"


def test_create_force_repairs_a_corrupt_baseline(tmp_path: Path) -> None:
    """The error for a corrupt baseline advises `keyscan baseline create --force`: it must work."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.env").write_text(_lone_key(keys.key_id()))
    (tmp_path / ".keyscan-baseline.json").write_text("{not json")
    result = run_cli("baseline", "create", "--force", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert len(json.loads((tmp_path / ".keyscan-baseline.json").read_text())["findings"]) == 1


def test_update_creates_the_baseline_named_in_the_config(tmp_path: Path) -> None:
    """`baseline update` creates the baseline if there is none, also at the config's path."""
    (tmp_path / "ci").mkdir()
    (tmp_path / ".keyscan.toml").write_text('baseline = "ci/baseline.json"\n')
    (tmp_path / "a.env").write_text(_lone_key(keys.key_id()))
    result = run_cli("baseline", "update", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "ci/baseline.json").is_file()


def test_create_writes_the_baseline_named_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / ".keyscan.toml").write_text('baseline = "ci/baseline.json"\n')
    (tmp_path / "a.env").write_text(_lone_key(keys.key_id()))
    result = run_cli("baseline", "create", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "ci/baseline.json").is_file()


def test_update_creates_the_baseline_given_with_the_option(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text(_lone_key(keys.key_id()))
    target = tmp_path / "accepted.json"
    result = run_cli("baseline", "update", "--baseline", str(target), str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert target.is_file()


class TestUntrustedSettings:
    """A repository one audits may carry settings and a baseline written to hide its keys:
    `--no-config` reads neither, while the auditor's own `--config`/`--baseline` still apply."""

    @pytest.fixture
    def hostile(self, tmp_path: Path) -> tuple[Path, str]:
        """A git repository whose key is excluded by path, allowed, baselined, and whose
        settings say never to fail."""
        repo = GitRepo.init(tmp_path / "hostile")
        key = keys.key_id()
        repo.write("deploy/prod.env", lone_key(key))
        assert run_cli("baseline", "create", str(repo.path)).exit_code == 0
        (repo.path / "ci").mkdir()
        (repo.path / ".keyscan-baseline.json").rename(repo.path / "ci" / "accepted.json")
        repo.write(
            ".keyscan.toml",
            f'exclude-paths = ["**"]\nallow = ["{key}"]\nfail-on = "none"\n'
            'baseline = "ci/accepted.json"\n',
        )
        repo.commit("add deploy settings")
        return repo.path, key

    def test_its_settings_hide_the_key_without_the_flag(self, hostile: tuple[Path, str]) -> None:
        """The threat: scanned as its owner would, the repository reports nothing and
        passes, even with --no-suppress (its own fail-on says never to fail)."""
        path, key = hostile
        code, report, _ = scan_json(str(path))
        assert (code, key_ids(report)) == (0, set())
        code, report, _ = scan_json("--no-suppress", str(path))
        assert (code, key_ids(report)) == (0, {key})

    def test_no_config_reports_the_key_and_fails(self, hostile: tuple[Path, str]) -> None:
        path, key = hostile
        code, report, _ = scan_json("--no-config", str(path))
        assert (code, key_ids(report)) == (1, {key})
        assert report["suppressed"] == {}
        assert all(f["suppressed"] is None for f in report["findings"])

    def test_no_config_ignores_pyproject_and_the_default_baseline(self, tmp_path: Path) -> None:
        key = keys.key_id()
        write(tmp_path, "src/app.env", lone_key(key))
        write(tmp_path, "pyproject.toml", f'[tool.keyscan]\nallow = ["{key}"]\n')
        assert run_cli("scan", str(tmp_path)).exit_code == 0
        (tmp_path / "pyproject.toml").unlink()
        assert run_cli("baseline", "create", str(tmp_path)).exit_code == 0
        assert run_cli("scan", str(tmp_path)).exit_code == 0
        code, report, _ = scan_json("--no-config", str(tmp_path))
        assert (code, key_ids(report)) == (1, {key})

    def test_named_settings_and_baseline_still_apply(
        self, hostile: tuple[Path, str], tmp_path: Path
    ) -> None:
        """The auditor's own files count: --config and --baseline name them explicitly."""
        path, key = hostile
        mine = write(tmp_path, "audit/keyscan.toml", f'allow = ["{key}"]\n')
        assert run_cli("scan", "--no-config", "--config", str(mine), str(path)).exit_code == 0
        baseline = path / "ci" / "accepted.json"
        result = run_cli("scan", "--no-config", "--baseline", str(baseline), str(path))
        assert result.exit_code == 0, result.stdout
