"""Report formats: golden files and the machine-readable contracts (JSON, SARIF, CSV).

Golden files live in tests/golden/report.{txt,json,jsonl,sarif,csv}. They are rendered from a
fixed small corpus (a key pair, a lone key ID, a lone secret, a session token, a Bedrock key
and an AWS documentation example, scanned with --include-examples) whose credentials are
generated at run time; before comparing, every unstable value is replaced by a placeholder:
generated key IDs, secrets (full and redacted), account IDs, fingerprints, entropies, timings,
the temporary folder and keyscan's version.

To regenerate the golden files after an intended change of a report format, run

    KEYSCAN_REGEN_GOLDEN=1 python -m pytest tests/test_reports.py

and review the diff: with the variable set the tests write the files instead of comparing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keys
import pytest
from conftest import run_cli

from keyscan import __version__, keyid
from keyscan.reports.csv import COLUMNS

GOLDEN = Path(__file__).resolve().parent / "golden"
SARIF_SCHEMA = (
    Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"
)
REGEN = os.environ.get("KEYSCAN_REGEN_GOLDEN") == "1"
FORMATS = {"text": "txt", "json": "json", "jsonl": "jsonl", "sarif": "sarif", "csv": "csv"}

# The contract documented in the README's "JSON report" section.
FINDING_FIELDS = {
    "id", "rule", "kind", "key_id", "secret", "key_type", "account_id", "canary", "example",
    "severity", "entropy", "locations", "locations_omitted", "suppressed", "inventory",
    "verification",
}  # fmt: skip
LOCATION_FIELDS = {
    "source",
    "path",
    "line",
    "column",
    "decoded",
}  # git locations add more: see the README
# A key ID that is not an AWS documentation example: must never be in a golden file.
REAL_LOOKING_KEY_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9]|AIDA|AROA)[A-Z2-7]{16}(?![A-Za-z0-9])"
)
BASE64_RUN = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40,}(?![A-Za-z0-9/+])")


@dataclass
class Corpus:
    root: Path
    key_ids: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)


def make_corpus(root: Path) -> Corpus:
    """The fixed corpus: one file per case, each credential freshly generated."""
    root.mkdir()
    c = Corpus(root)
    c.accounts = [keys.account_id(), keys.account_id()]
    c.key_ids = [keys.key_id(account=c.accounts[0]), keys.key_id(account=c.accounts[1])]
    c.secrets = [
        keys.secret_key(),
        keys.secret_key(),
        keys.session_token(),
        keys.bedrock_long_term_key(),
    ]
    pair_id, lone_id = c.key_ids
    pair_secret, lone_secret, token, bedrock = c.secrets
    (root / "pair.ini").write_text(
        f"[default]\naws_access_key_id = {pair_id}\naws_secret_access_key = {pair_secret}\n"
    )
    (root / "lone_key.py").write_text(f'KEY_ID = "{lone_id}"\n')
    (root / "lone_secret.env").write_text(f"AWS_SECRET_ACCESS_KEY={lone_secret}\n")
    (root / "session.json").write_text(f'{{\n  "SessionToken": "{token}"\n}}\n')
    (root / "bedrock.sh").write_text(f"export AWS_BEARER_TOKEN_BEDROCK={bedrock}\n")
    (root / "example.md").write_text("See `aws_access_key_id = AKIAIOSFODNN7EXAMPLE`.\n")
    return c


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Corpus:
    c = make_corpus(tmp_path / "corpus")
    monkeypatch.chdir(c.root)  # paths in reports are relative, as in `keyscan scan .`
    return c


def render(fmt: str, *extra: str) -> str:
    result = run_cli("scan", "--include-examples", "--format", fmt, *extra, ".")
    assert result.exit_code == 1, result.output
    return result.stdout


def normalize(report: str, c: Corpus) -> str:
    """Replace every value that changes from run to run with a stable placeholder."""
    out = report
    for i, secret in enumerate(c.secrets, 1):
        out = out.replace(secret, f"<SECRET_{i}>")
        shown = f"…({len(secret)} chars)"
        out = out.replace(f"{secret[:4]}{shown}", f"<SECRET_{i}>[:4]{shown}")
    for i, key in enumerate(c.key_ids, 1):
        out = out.replace(key, f"<KEY_ID_{i}>")
    for i, account in enumerate(c.accounts, 1):
        out = out.replace(account, f"<ACCOUNT_{i}>")
    fingerprints: dict[str, str] = {}

    def fingerprint(m: re.Match[str]) -> str:
        return fingerprints.setdefault(m.group(0), f"<FINGERPRINT_{len(fingerprints) + 1}>")

    out = re.sub(r"\b[0-9a-f]{64}\b", fingerprint, out)
    out = re.sub(r'"entropy": [0-9.]+', '"entropy": "<ENTROPY>"', out)
    out = re.sub(r'"seconds": [0-9.e-]+', '"seconds": "<SECONDS>"', out)
    out = re.sub(r" in \d+\.\d+ s$", " in <SECONDS> s", out, flags=re.MULTILINE)
    out = out.replace(f'"version": "{__version__}"', '"version": "<VERSION>"')
    out = out.replace(str(c.root), "<ROOT>")
    return out


class TestGoldenFiles:
    @pytest.mark.parametrize("fmt", sorted(FORMATS))
    def test_report_matches_golden_file(self, corpus: Corpus, fmt: str) -> None:
        """Each format renders the fixed corpus exactly as its golden file, placeholders aside."""
        actual = normalize(render(fmt), corpus)
        for value in corpus.key_ids + corpus.secrets + corpus.accounts:
            assert value not in actual, "normalization left a generated value in the report"
        golden = GOLDEN / f"report.{FORMATS[fmt]}"
        if REGEN:
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(actual, encoding="utf-8")
        assert golden.exists(), f"{golden} is missing; create it with KEYSCAN_REGEN_GOLDEN=1"
        expected = golden.read_text(encoding="utf-8")
        assert actual == expected, (
            f"{fmt} report differs from {golden.name}; if the change is intended, "
            "regenerate with KEYSCAN_REGEN_GOLDEN=1 and review the diff"
        )

    def test_normalization_is_stable_across_runs(self, tmp_path: Path) -> None:
        """Two corpora with different generated keys normalize to the same report."""
        texts = []
        for name in ("one", "two"):
            c = make_corpus(tmp_path / name)
            result = run_cli("scan", "--include-examples", "-f", "json", str(c.root))
            texts.append(normalize(result.stdout, c))
        assert texts[0] == texts[1]

    def test_corpus_key_ids_carry_its_accounts(self, tmp_path: Path) -> None:
        """The corpus' key IDs decode to the account IDs that the normalizer replaces."""
        c = make_corpus(tmp_path / "c")
        assert [keyid.decode_account_id(k) for k in c.key_ids] == c.accounts

    def test_golden_files_hold_no_real_looking_key(self) -> None:
        """Golden files hold placeholders only: no key ID but AWS examples, no long base64 run."""
        files = sorted(GOLDEN.glob("report.*"))
        assert {p.suffix.lstrip(".") for p in files} == set(FORMATS.values())
        for path in files:
            text = path.read_text(encoding="utf-8")
            found = [k for k in REAL_LOOKING_KEY_ID.findall(text) if "EXAMPLE" not in k]
            assert found == [], path
            assert BASE64_RUN.findall(text) == [], path
            assert "<KEY_ID_1>" in text and "<SECRET_1>" in text, path
        result = run_cli("scan", "--include-identifiers", str(GOLDEN))
        assert result.exit_code == 0, result.output


class TestJsonContract:
    def test_document_shape(self, corpus: Corpus) -> None:
        """The JSON document has version 1, the tool's name and version, findings and stats."""
        doc = json.loads(render("json"))
        assert set(doc) == {"version", "tool", "findings", "suppressed", "stats"}
        assert doc["suppressed"] == {}
        assert doc["version"] == 1
        assert doc["tool"] == {"name": "keyscan", "version": __version__}
        assert set(doc["stats"]) == {"blobs", "bytes", "seconds"}
        assert doc["stats"]["blobs"] == 6
        assert doc["stats"]["bytes"] == sum(p.stat().st_size for p in corpus.root.iterdir())
        assert isinstance(doc["stats"]["seconds"], float | int) and doc["stats"]["seconds"] >= 0

    def test_finding_and_location_fields(self, corpus: Corpus) -> None:
        """Every finding has exactly the documented fields, and every location too."""
        findings = json.loads(render("json"))["findings"]
        assert len(findings) == 6
        for f in findings:
            assert set(f) == FINDING_FIELDS
            assert re.fullmatch(r"[0-9a-f]{64}", f["id"])
            assert f["severity"] in {"critical", "high", "medium", "low", "info"}
            assert isinstance(f["canary"], bool) and isinstance(f["example"], bool)
            assert isinstance(f["entropy"], float)
            assert f["locations_omitted"] == 0
            assert f["locations"]
            for loc in f["locations"]:
                assert set(loc) == LOCATION_FIELDS
                assert loc["source"] == "file"
                assert isinstance(loc["line"], int) and loc["line"] >= 1
                assert isinstance(loc["column"], int) and loc["column"] >= 1

    def test_finding_values(self, corpus: Corpus) -> None:
        """Each corpus credential is reported with the right rule, kind, type, account and place."""
        findings = json.loads(render("json"))["findings"]
        by_path = {f["locations"][0]["path"]: f for f in findings}
        pair = by_path["pair.ini"]
        assert (pair["rule"], pair["kind"], pair["severity"]) == (
            "aws.access-key-pair",
            "access_key_pair",
            "critical",
        )
        assert pair["key_id"] == corpus.key_ids[0]
        assert pair["account_id"] == corpus.accounts[0]
        assert pair["key_type"] == "long_term"
        assert pair["locations"] == [
            {"source": "file", "path": "pair.ini", "line": 2, "column": 21, "decoded": []}
        ]
        lone = by_path["lone_key.py"]
        assert (lone["kind"], lone["secret"], lone["account_id"]) == (
            "access_key_id",
            None,
            corpus.accounts[1],
        )
        assert by_path["lone_secret.env"]["key_id"] is None
        assert by_path["session.json"]["key_type"] == "session_token"
        assert by_path["session.json"]["locations"][0]["line"] == 2
        assert by_path["bedrock.sh"]["key_type"] == "bedrock_long_term"
        example = by_path["example.md"]
        assert (example["key_id"], example["example"], example["severity"]) == (
            "AKIAIOSFODNN7EXAMPLE",
            True,
            "info",
        )

    def test_ids_are_stable_across_runs(self, corpus: Corpus) -> None:
        """The same credential gets the same id on every run."""
        first = [f["id"] for f in json.loads(render("json"))["findings"]]
        second = [f["id"] for f in json.loads(render("json"))["findings"]]
        assert first == second
        assert len(set(first)) == len(first)

    def test_jsonl_is_one_finding_per_line_like_json(self, corpus: Corpus) -> None:
        """JSON Lines holds the same findings as the JSON document, one object per line."""
        findings = json.loads(render("json"))["findings"]
        lines = render("jsonl").splitlines()
        assert [json.loads(line) for line in lines] == findings

    def test_jsonl_of_a_clean_scan_is_empty(self, tmp_path: Path) -> None:
        """A clean scan in JSON Lines prints nothing at all."""
        (tmp_path / "a.txt").write_text("nothing\n")
        result = run_cli("scan", "-f", "jsonl", str(tmp_path))
        assert (result.exit_code, result.stdout) == (0, "")

    def test_json_of_a_clean_scan(self, tmp_path: Path) -> None:
        """A clean scan in JSON has an empty findings list and still counts what it scanned."""
        (tmp_path / "a.txt").write_text("nothing\n")
        result = run_cli("scan", "-f", "json", str(tmp_path))
        doc = json.loads(result.stdout)
        assert (result.exit_code, doc["findings"], doc["stats"]["blobs"]) == (0, [], 1)


def check_github_sarif(doc: dict[str, Any]) -> None:
    """What GitHub code scanning reads: rule help, security-severity, fingerprints, regions."""
    assert doc["version"] == "2.1.0"
    assert "$schema" in doc
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "keyscan"
    assert driver["version"] == __version__
    rules = driver["rules"]
    assert rules
    rule_ids = [r["id"] for r in rules]
    assert len(set(rule_ids)) == len(rule_ids)
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"].strip()
        assert rule["help"]["markdown"].strip()
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note", "none"}
    assert run["results"]
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note", "none"}
        assert result["message"]["text"]
        assert result["partialFingerprints"]
        assert all(isinstance(v, str) and v for v in result["partialFingerprints"].values())
        assert 0.0 <= float(result["properties"]["security-severity"]) <= 10.0
        assert result["locations"]
        for loc in result["locations"]:
            physical = loc["physicalLocation"]
            assert physical["artifactLocation"]["uri"]
            assert physical["region"]["startLine"] >= 1
            assert physical["region"]["startColumn"] >= 1


class TestSarif:
    def test_validates_against_the_sarif_schema(self, corpus: Corpus) -> None:
        """SARIF validates against the 2.1.0 schema (when present) and has GitHub's structure."""
        doc = json.loads(render("sarif"))
        if SARIF_SCHEMA.exists():
            import jsonschema

            schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
            validator_cls = jsonschema.validators.validator_for(schema)
            validator_cls.check_schema(schema)
            errors = sorted(validator_cls(schema).iter_errors(doc), key=str)
            assert errors == [], "\n".join(e.message for e in errors[:5])
        # Without the schema file these checks still hold every assertion GitHub depends on.
        check_github_sarif(doc)

    def test_github_structure(self, corpus: Corpus) -> None:
        """Rules carry help and security-severity; results carry fingerprints and regions."""
        check_github_sarif(json.loads(render("sarif")))

    def test_results_match_findings(self, corpus: Corpus) -> None:
        """One SARIF result per finding, with the finding's id as partial fingerprint."""
        findings = json.loads(render("json"))["findings"]
        results = json.loads(render("sarif"))["runs"][0]["results"]
        assert [r["partialFingerprints"]["keyscan/credential/v1"] for r in results] == [
            f["id"] for f in findings
        ]
        assert [r["ruleId"] for r in results] == [f["rule"] for f in findings]
        pair = results[[f["locations"][0]["path"] for f in findings].index("pair.ini")]
        (location,) = pair["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "pair.ini"
        assert location["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 21}
        assert pair["level"] == "error"
        assert float(pair["properties"]["security-severity"]) >= 9.0

    def test_absolute_paths_become_file_uris(self, tmp_path: Path) -> None:
        """A file scanned by absolute path has a file:// URI; stdin has a stable placeholder URI."""
        (tmp_path / "a b.txt").write_text(f"{keys.key_id()}\n")
        result = run_cli("scan", "-f", "sarif", str(tmp_path), "-", input=f"{keys.key_id()}\n")
        doc = json.loads(result.stdout)
        uris = sorted(
            loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in doc["runs"][0]["results"]
            for loc in r["locations"]
        )
        assert f"file://{tmp_path}/a%20b.txt" in uris
        assert "stdin" in uris
        check_github_sarif(doc)

    def test_clean_scan_is_valid_sarif(self, tmp_path: Path) -> None:
        """A clean scan still produces a SARIF run with rules and an empty result list."""
        (tmp_path / "a.txt").write_text("nothing\n")
        doc = json.loads(run_cli("scan", "-f", "sarif", str(tmp_path)).stdout)
        assert doc["runs"][0]["results"] == []
        assert doc["runs"][0]["tool"]["driver"]["rules"]
        if SARIF_SCHEMA.exists():
            import jsonschema

            schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
            jsonschema.validators.validator_for(schema)(schema).validate(doc)


class TestCsv:
    def test_header(self, corpus: Corpus) -> None:
        """The CSV header names the documented columns in order."""
        header = next(csv.reader(io.StringIO(render("csv"))))
        assert tuple(header) == COLUMNS
        assert header == [
            "id", "severity", "rule", "kind", "key_id", "secret", "key_type", "account_id",
            "canary", "example", "source", "path", "line", "column", "suppressed",
            "inventory_status", "user", "verification",
        ]  # fmt: skip

    def test_one_row_per_location(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A credential seen in three places gives three rows with the same id."""
        monkeypatch.chdir(tmp_path)
        key = keys.key_id()
        for name in ("a.txt", "b.txt", "c.txt"):
            Path(name).write_text(f"x\n{key}\n")
        Path("d.txt").write_text(f"{keys.key_id()}\n")
        result = run_cli("scan", "-f", "csv", ".")
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert len(rows) == 4
        same = [r for r in rows if r["key_id"] == key]
        assert [r["path"] for r in same] == ["a.txt", "b.txt", "c.txt"]
        assert {r["id"] for r in same} == {same[0]["id"]}
        assert {(r["line"], r["column"]) for r in same} == {("2", "1")}
        json_findings = json.loads(run_cli("scan", "-f", "json", ".").stdout)["findings"]
        assert len(rows) == sum(len(f["locations"]) for f in json_findings)

    def test_rows_match_json(self, corpus: Corpus) -> None:
        """CSV rows carry the same values as the JSON findings, booleans as true/false."""
        rows = list(csv.DictReader(io.StringIO(render("csv"))))
        findings = json.loads(render("json"))["findings"]
        assert len(rows) == len(findings) == 6
        for row, f in zip(rows, findings, strict=True):
            assert row["id"] == f["id"]
            assert row["severity"] == f["severity"]
            assert row["key_id"] == (f["key_id"] or "")
            assert row["secret"] == (f["secret"] or "")
            assert row["account_id"] == (f["account_id"] or "")
            assert row["example"] == str(f["example"]).lower()
            assert row["path"] == f["locations"][0]["path"]
            assert int(row["line"]) == f["locations"][0]["line"]

    def test_clean_scan_is_only_the_header(self, tmp_path: Path) -> None:
        """A clean scan in CSV is the header line alone."""
        (tmp_path / "a.txt").write_text("nothing\n")
        result = run_cli("scan", "-f", "csv", str(tmp_path))
        assert result.stdout == ",".join(COLUMNS) + "\n"
