"""Rules are data: built-in rules pass their own examples; user rule files load or fail clearly."""

from __future__ import annotations

import json
import secrets
import string
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import run_cli

from keyscan.errors import RuleError
from keyscan.rulecheck import check_rules
from keyscan.rules import Rule, default_patterns_dir, load_rules
from keyscan.scan import ScanOptions, scan_paths

ENGINES = ("hyperscan", "regex")
BUILTIN = load_rules()


def builtin_ids_from_toml() -> list[str]:
    """Rule ids read straight from the shipped TOML files, without keyscan's loader."""
    ids = []
    for path in sorted(default_patterns_dir().glob("*.toml")):
        ids.extend(rule["id"] for rule in tomllib.loads(path.read_text())["rules"])
    return ids


def example_cases(field: str) -> list[tuple[Rule, str]]:
    return [(rule, text) for rule in BUILTIN for text in getattr(rule, field)]


def case_id(case: tuple[Rule, str]) -> str:
    rule, text = case
    return f"{rule.id}:{text[:30]}"


class TestBuiltinRules:
    """Every built-in rule finds its examples and none of its negative examples."""

    @pytest.mark.parametrize("engine", ENGINES)
    def test_check_rules_finds_no_problem(self, engine: str) -> None:
        """check_rules over all built-in rules reports nothing."""
        assert check_rules(BUILTIN, engine) == []

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("case", example_cases("examples"), ids=case_id)
    def test_example_is_found(self, case: tuple[Rule, str], engine: str) -> None:
        """The example, alone, is found by its rule through the whole pipeline."""
        rule, text = case
        only = replace(rule, examples=(text,), negative_examples=())
        assert check_rules([only], engine) == []

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("case", example_cases("negative_examples"), ids=case_id)
    def test_negative_example_is_not_found(self, case: tuple[Rule, str], engine: str) -> None:
        """The negative example, alone, is not found by its rule."""
        rule, text = case
        only = replace(rule, negative_examples=(text,))
        assert check_rules([only], engine) == []

    def test_every_rule_has_examples_both_ways(self) -> None:
        """Each built-in rule carries positive and negative examples and a reference."""
        for rule in BUILTIN:
            assert rule.examples, rule.id
            assert rule.negative_examples, rule.id
            assert rule.references, rule.id

    def test_loader_sees_every_rule_in_the_files(self) -> None:
        """load_rules returns exactly the rules written in patterns/*.toml, in order."""
        assert [rule.id for rule in BUILTIN] == builtin_ids_from_toml()

    def test_check_reports_an_example_that_is_not_found(self) -> None:
        """check_rules reports a rule whose example does not match (the check can fail)."""
        rule = next(r for r in BUILTIN if r.id == "aws.access-key-id")
        broken = replace(rule, examples=("no key here",))
        problems = check_rules([broken])
        assert [(p.rule_id, "example not found" in p.message) for p in problems] == [
            ("aws.access-key-id", True)
        ]

    def test_check_reports_a_negative_example_that_is_found(self) -> None:
        """check_rules reports a negative example that the rule does find."""
        rule = next(r for r in BUILTIN if r.id == "aws.access-key-id")
        broken = replace(rule, negative_examples=("id AKIAIOSFODNN7EXAMPLE",))
        problems = check_rules([broken])
        assert [(p.rule_id, "negative example found" in p.message) for p in problems] == [
            ("aws.access-key-id", True)
        ]


# --- User rule files ------------------------------------------------------------------------

USER_RULE = """\
[[rules]]
id = "acme.deploy-token"
kind = "secret_access_key"
description = "ACME deploy token"
prefilter = 'acmetok_[A-Za-z0-9]{32}'
pattern = '''
(?<![A-Za-z0-9_])
(?P<secret>acmetok_[A-Za-z0-9]{32})
(?![A-Za-z0-9])
'''
window = 64
entropy = 3.0
examples = ["token: acmetok_EXAMPLEaB3dE5gH7jK9mN1pQ2rS4tU6v"]
negative_examples = ["acmetok_EXAMPLEaB3dE5gH7jK9mN1pQ2rS4tU6vW"]
references = ["https://example.com/acme/tokens"]
"""


def acme_token() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        tail = "".join(secrets.choice(alphabet) for _ in range(32))
        if len(set(tail)) > 16:
            return "acmetok_" + tail


def rule_file(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestUserRules:
    """A rule file passed with --patterns adds rules to the built-in ones."""

    def test_user_rule_finds_its_match(self, tmp_path: Path) -> None:
        """--patterns adds a rule whose match is reported, with its id and line."""
        rules = rule_file(tmp_path, USER_RULE)
        token = acme_token()
        target = tmp_path / "deploy.yml"
        target.write_text(f"stage: prod\nacme_token: {token}\n")

        without = run_cli("scan", "--format", "json", str(target))
        assert without.exit_code == 0, without.output
        assert json.loads(without.stdout)["findings"] == []

        result = run_cli(
            "scan", "--format", "json", "--show-secrets", "--patterns", str(rules), str(target)
        )
        assert result.exit_code == 1, result.output
        findings = json.loads(result.stdout)["findings"]
        assert [(f["rule"], f["secret"], f["locations"][0]["line"]) for f in findings] == [
            ("acme.deploy-token", token, 2)
        ]

    def test_user_rule_via_library(self, tmp_path: Path) -> None:
        """load_rules(extra) appends the user rule after the built-in ones."""
        rules = load_rules([rule_file(tmp_path, USER_RULE)])
        assert [r.id for r in rules] == [*builtin_ids_from_toml(), "acme.deploy-token"]
        target = tmp_path / "a.txt"
        token = acme_token()
        target.write_text(f"{token}\n")
        findings = scan_paths([str(target)], rules, ScanOptions()).findings
        assert [(f.rule_id, f.secret) for f in findings] == [("acme.deploy-token", token)]

    def test_user_rule_folder(self, tmp_path: Path) -> None:
        """--patterns also takes a folder and loads every .toml file in it."""
        folder = tmp_path / "rules"
        folder.mkdir()
        rule_file(folder, USER_RULE, "acme.toml")
        result = run_cli("rules", "list", "--patterns", str(folder))
        assert result.exit_code == 0, result.output
        assert "acme.deploy-token" in result.stdout

    def test_rules_check_passes_user_rule(self, tmp_path: Path) -> None:
        """`rules check --patterns` exits 0 when the user rule's examples behave."""
        result = run_cli("rules", "check", "--patterns", str(rule_file(tmp_path, USER_RULE)))
        assert result.exit_code == 0, result.output
        assert "0 problems" in result.stdout

    def test_rules_check_fails_on_broken_example(self, tmp_path: Path) -> None:
        """`rules check` exits 1 and names the rule when an example is not found."""
        broken = USER_RULE.replace(
            'examples = ["token: acmetok_', 'examples = ["token: acmetok_tooshort", "x acmetok_'
        )
        result = run_cli("rules", "check", "--patterns", str(rule_file(tmp_path, broken)))
        assert result.exit_code == 1, result.output
        assert "FAIL acme.deploy-token" in result.stdout
        assert "acmetok_tooshort" in result.stdout


# --- Malformed rule files -------------------------------------------------------------------

MALFORMED = {
    "invalid-toml": ("[[rules]]\nid = 'x\n", "not valid TOML"),
    "no-rules": ('title = "nothing here"\n', "no [[rules]]"),
    "unknown-field": (
        USER_RULE.replace("entropy = 3.0", "entropy = 3.0\nseverity = 'high'"),
        "unknown field",
    ),
    "missing-field": (
        USER_RULE.replace("prefilter = 'acmetok_[A-Za-z0-9]{32}'\n", ""),
        "'prefilter' is required",
    ),
    "bad-kind": (
        USER_RULE.replace('kind = "secret_access_key"', 'kind = "password"'),
        "kind 'password'",
    ),
    "pattern-does-not-compile": (
        USER_RULE.replace(
            "(?P<secret>acmetok_[A-Za-z0-9]{32})", "(?P<secret>acmetok_[A-Za-z0-9]{32}"
        ),
        "does not compile",
    ),
    "pattern-without-group": (
        USER_RULE.replace("(?P<secret>acmetok_[A-Za-z0-9]{32})", "(acmetok_[A-Za-z0-9]{32})"),
        "named group",
    ),
    "duplicate-id-in-file": (USER_RULE + "\n" + USER_RULE, "already defined"),
    "duplicate-builtin-id": (
        USER_RULE.replace('id = "acme.deploy-token"', 'id = "aws.access-key-id"'),
        "already defined",
    ),
}


class TestMalformedRules:
    """A broken rule file is an error (RuleError, exit 2) whose message names the file."""

    @pytest.mark.parametrize("name", MALFORMED)
    def test_library_raises_rule_error(self, name: str, tmp_path: Path) -> None:
        """load_rules raises RuleError naming the file and the problem."""
        text, fragment = MALFORMED[name]
        path = rule_file(tmp_path, text, f"{name}.toml")
        with pytest.raises(RuleError) as caught:
            load_rules([path])
        assert str(path) in str(caught.value)
        assert fragment in str(caught.value)

    @pytest.mark.parametrize("name", MALFORMED)
    def test_cli_exits_2(self, name: str, tmp_path: Path) -> None:
        """`keyscan scan --patterns BAD` exits 2 with an error naming the file on stderr."""
        text, _ = MALFORMED[name]
        path = rule_file(tmp_path, text, f"{name}.toml")
        target = tmp_path / "empty.txt"
        target.write_text("nothing\n")
        result = run_cli("scan", "--patterns", str(path), str(target))
        assert result.exit_code == 2, result.output
        assert str(path) in result.stderr
        assert result.stderr.startswith("keyscan: error:")
        assert result.stdout == ""

    @pytest.mark.parametrize("command", [("rules", "list"), ("rules", "check")])
    def test_rules_commands_exit_2(self, command: tuple[str, str], tmp_path: Path) -> None:
        """`rules list` and `rules check` also exit 2 on a malformed rule file."""
        path = rule_file(tmp_path, MALFORMED["unknown-field"][0])
        result = run_cli(*command, "--patterns", str(path))
        assert result.exit_code == 2, result.output
        assert str(path) in result.stderr

    def test_missing_rule_file(self, tmp_path: Path) -> None:
        """A --patterns path that does not exist is a RuleError naming it."""
        path = tmp_path / "nope.toml"
        with pytest.raises(RuleError, match="not found"):
            load_rules([path])
        result = run_cli("rules", "list", "--patterns", str(path))
        assert result.exit_code == 2
        assert str(path) in result.stderr

    def test_prefilter_hyperscan_cannot_compile(self, tmp_path: Path) -> None:
        """A prefilter with a lookbehind fails under hyperscan with an error naming the file."""
        text = USER_RULE.replace(
            "prefilter = 'acmetok_[A-Za-z0-9]{32}'", "prefilter = '(?<=x)acmetok_[A-Za-z0-9]{32}'"
        )
        path = rule_file(tmp_path, text)
        rules = load_rules([path])
        target = tmp_path / "a.txt"
        target.write_text("x\n")
        with pytest.raises(RuleError) as caught:
            scan_paths([str(target)], rules, ScanOptions(engine="hyperscan"))
        assert str(path) in str(caught.value)
        assert "acme.deploy-token" in str(caught.value)


# --- The rules commands ---------------------------------------------------------------------


class TestRulesCommands:
    """`keyscan rules list` and `keyscan rules check` on the built-in rules."""

    def test_list_shows_every_builtin_id(self) -> None:
        """`rules list` prints one line per built-in rule, starting with its id."""
        result = run_cli("rules", "list")
        assert result.exit_code == 0, result.output
        listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
        assert listed == builtin_ids_from_toml()

    def test_check_exits_0(self) -> None:
        """`rules check` exits 0 and reports zero problems for the built-in rules."""
        result = run_cli("rules", "check")
        assert result.exit_code == 0, result.output
        assert "FAIL" not in result.stdout
        assert f"{len(builtin_ids_from_toml())} rules" in result.stdout
        assert "0 problems" in result.stdout
