"""What keyscan finds and what it must not: real-looking snippets in real files, end to end.

Every credential is generated at run time (tests/keys.py); the only key literals here are the
AWS documentation examples, which keyscan drops by design.
"""

from __future__ import annotations

import multiprocessing
import random
import string
from dataclasses import dataclass
from pathlib import Path

import keys
import pytest

from keyscan import filters, keyid
from keyscan.findings import FindingOptions
from keyscan.model import Finding, Kind, ScanResult, Severity
from keyscan.rules import load_rules
from keyscan.scan import ScanOptions, scan_paths

RULES = load_rules()
RULES_BY_ID = {rule.id: rule for rule in RULES}
ENGINES = ("hyperscan", "regex")
DOC_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
HANG_GUARD_SECONDS = 20  # not a performance target: only long enough to tell a hang apart


def key_id(prefix: str = "AKIA", account: str | None = None) -> str:
    """A generated key ID that also clears the key-ID rule's entropy floor.

    keys.key_id does not check that floor, and about one draw in 5,000 falls under it.
    """
    floor = RULES_BY_ID["aws.access-key-id"].entropy
    while True:
        value = keys.key_id(prefix, account)
        if filters.shannon_entropy(value) >= floor:
            return value


def write(path: Path, text: str | bytes) -> Path:
    """Write `text` byte for byte (no newline translation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def scan(
    *paths: Path,
    engine: str = "auto",
    include_examples: bool = False,
    include_identifiers: bool = False,
) -> list[Finding]:
    """Scan files or folders through the library, as the CLI does."""
    options = ScanOptions(
        findings=FindingOptions(
            include_identifiers=include_identifiers, include_examples=include_examples
        ),
        engine=engine,
    )
    return scan_paths([str(p) for p in paths], RULES, options).findings


def summary(findings: list[Finding]) -> list[tuple[Kind, str | None, str | None, int]]:
    """(kind, key ID, secret, first line) of each finding, sorted, for exact comparison."""
    rows = [(f.kind, f.key_id, f.secret, f.locations[0].line) for f in findings]
    return sorted(rows, key=lambda row: (row[3], row[0].value, row[1] or "", row[2] or ""))


# --- One syntax per row -------------------------------------------------------------------


@dataclass(frozen=True)
class Syntax:
    """A snippet with @NAME@ markers for generated values, and the findings it must give.

    Each expected finding is (kind, key ID marker, secret marker); its line is the template
    line holding the key ID marker, or else the secret marker.
    """

    id: str
    filename: str
    template: str
    expected: tuple[tuple[Kind, str | None, str | None], ...]
    newline: str = "\n"

    def render(self, values: dict[str, str]) -> str:
        text = self.template
        for name, value in values.items():
            text = text.replace(f"@{name}@", value)
        assert "@KEY" not in text and "@SECRET" not in text, "unknown marker in template"
        return text.replace("\n", self.newline)

    def line_of(self, marker: str) -> int:
        for number, line in enumerate(self.template.split("\n"), start=1):
            if f"@{marker}@" in line:
                return number
        raise AssertionError(f"marker {marker} not in template {self.id}")

    def expected_rows(
        self, values: dict[str, str]
    ) -> list[tuple[Kind, str | None, str | None, int]]:
        rows = []
        for kind, key_marker, secret_marker in self.expected:
            line = self.line_of(key_marker or secret_marker or "")
            key = values[key_marker] if key_marker else None
            secret = values[secret_marker] if secret_marker else None
            rows.append((kind, key, secret, line))
        return sorted(rows, key=lambda row: (row[3], row[0].value, row[1] or "", row[2] or ""))


def lines(*parts: str) -> str:
    return "\n".join(parts) + "\n"


PAIR, KEY_ID, SECRET, TOKEN, BEDROCK = (
    Kind.ACCESS_KEY_PAIR,
    Kind.ACCESS_KEY_ID,
    Kind.SECRET_ACCESS_KEY,
    Kind.SESSION_TOKEN,
    Kind.BEDROCK_API_KEY,
)
P = ((PAIR, "KEY", "SECRET"),)  # the common expectation: one key ID paired with its secret

INI_CREDENTIALS = lines(
    "[default]",
    "aws_access_key_id = @KEY@",
    "aws_secret_access_key = @SECRET@",
)

SYNTAXES = [
    Syntax(
        "aws-credentials-two-profiles",
        ".aws/credentials",
        lines(
            "[default]",
            "aws_access_key_id = @KEY@",
            "aws_secret_access_key = @SECRET@",
            "",
            "[prod]",
            "aws_access_key_id = @KEY2@",
            "aws_secret_access_key = @SECRET2@",
        ),
        ((PAIR, "KEY", "SECRET"), (PAIR, "KEY2", "SECRET2")),
    ),
    Syntax(
        "aws-config-profile",
        ".aws/config",
        lines(
            "[profile dev]",
            "region = eu-west-1",
            "output = json",
            "aws_access_key_id = @KEY@",
            "aws_secret_access_key = @SECRET@",
        ),
        P,
    ),
    Syntax(
        "dotenv",
        ".env",
        lines(
            "APP_ENV=production",
            "AWS_ACCESS_KEY_ID=@KEY@",
            "AWS_SECRET_ACCESS_KEY=@SECRET@",
            "AWS_DEFAULT_REGION=us-east-1",
        ),
        P,
    ),
    Syntax(
        "shell-export",
        "deploy.sh",
        lines(
            "#!/bin/sh",
            'export AWS_ACCESS_KEY_ID="@KEY@"',
            "export AWS_SECRET_ACCESS_KEY='@SECRET@'",
            "aws s3 sync ./dist s3://my-bucket",
        ),
        P,
    ),
    Syntax(
        "aws-configure-set-secret",
        "setup.sh",
        lines("set -e", "aws configure set aws_secret_access_key @SECRET@ --profile ci"),
        ((SECRET, None, "SECRET"),),
    ),
    Syntax(
        "aws-configure-set-both",
        "setup.sh",
        lines(
            "aws configure set aws_access_key_id @KEY@",
            "aws configure set aws_secret_access_key @SECRET@",
            "aws configure set region us-east-1",
        ),
        P,
    ),
    Syntax(
        "yaml",
        "config.yml",
        lines(
            "storage:",
            "  provider: s3",
            "  aws_access_key_id: @KEY@",
            '  aws_secret_access_key: "@SECRET@"',
        ),
        P,
    ),
    Syntax(
        "json",
        "credentials.json",
        lines(
            "{",
            '  "AccessKeyId": "@KEY@",',
            '  "SecretAccessKey": "@SECRET@",',
            '  "Region": "us-east-1"',
            "}",
        ),
        P,
    ),
    Syntax(
        "escaped-json-secret",
        "job.json",
        lines(r'{"name": "sync", "env": "{\"AWS_SECRET_ACCESS_KEY\": \"@SECRET@\"}"}'),
        ((SECRET, None, "SECRET"),),
    ),
    Syntax(
        "escaped-json-pair",
        "job.json",
        lines(r'{"env": "{\"accessKeyId\":\"@KEY@\",\"secretAccessKey\":\"@SECRET@\"}"}'),
        P,
    ),
    Syntax(
        "xml-elements",
        "settings.xml",
        lines(
            '<?xml version="1.0"?>',
            "<aws>",
            "  <accessKeyId>@KEY@</accessKeyId>",
            "  <secretAccessKey>@SECRET@</secretAccessKey>",
            "</aws>",
        ),
        P,
    ),
    Syntax(
        "xml-add-secret",
        "Web.config",
        lines(
            "<configuration>",
            "  <appSettings>",
            '    <add key="AWSSecretKey" value="@SECRET@"/>',
            "  </appSettings>",
            "</configuration>",
        ),
        ((SECRET, None, "SECRET"),),
    ),
    Syntax(
        "xml-add-pair",
        "App.config",
        lines(
            "<appSettings>",
            '  <add key="AWSAccessKey" value="@KEY@"/>',
            '  <add key="AWSSecretKey" value="@SECRET@"/>',
            "</appSettings>",
        ),
        P,
    ),
    Syntax(
        "java-properties",
        "application.properties",
        lines("# AWS", "aws.accessKeyId=@KEY@", "aws.secretKey=@SECRET@"),
        P,
    ),
    Syntax(
        "spring-yaml",
        "application.yml",
        lines(
            "cloud:",
            "  aws:",
            "    credentials:",
            "      access-key: @KEY@",
            "      secret-key: @SECRET@",
            "    region:",
            "      static: us-east-1",
        ),
        P,
    ),
    Syntax(
        "dockerfile-env-space",
        "Dockerfile",
        lines(
            "FROM python:3.12-slim",
            "ENV AWS_ACCESS_KEY_ID @KEY@",
            "ENV AWS_SECRET_ACCESS_KEY @SECRET@",
            'CMD ["python", "app.py"]',
        ),
        P,
    ),
    Syntax(
        "dockerfile-env-equals",
        "Dockerfile",
        lines(
            "FROM python:3.12-slim",
            "ENV AWS_ACCESS_KEY_ID=@KEY@ \\",
            "    AWS_SECRET_ACCESS_KEY=@SECRET@",
        ),
        P,
    ),
    Syntax(
        "terraform-provider",
        "main.tf",
        lines(
            'provider "aws" {',
            '  region     = "us-east-1"',
            '  access_key = "@KEY@"',
            '  secret_key = "@SECRET@"',
            "}",
        ),
        P,
    ),
    Syntax(
        # `terraform fmt` aligns the = signs of a block to its longest attribute name.
        "terraform-provider-fmt-aligned",
        "providers.tf",
        lines(
            'provider "aws" {',
            '  region                      = "us-east-1"',
            '  access_key                  = "@KEY@"',
            '  secret_key                  = "@SECRET@"',
            "  skip_credentials_validation = true",
            "  skip_requesting_account_id  = true",
            "}",
        ),
        P,
    ),
    Syntax(
        "python-boto3-client",
        "app.py",
        lines(
            "import boto3",
            "",
            "s3 = boto3.client(",
            '    "s3",',
            '    aws_access_key_id="@KEY@",',
            '    aws_secret_access_key="@SECRET@",',
            ")",
        ),
        P,
    ),
    Syntax(
        "python-dict",
        "settings.py",
        lines(
            "AWS = {",
            '    "access_key": "@KEY@",',
            '    "secret_key": "@SECRET@",',
            "}",
        ),
        P,
    ),
    Syntax(
        "javascript-aws-config",
        "aws.js",
        lines(
            'const AWS = require("aws-sdk");',
            "AWS.config = new AWS.Config({",
            '  accessKeyId: "@KEY@",',
            "  secretAccessKey: '@SECRET@',",
            '  region: "us-east-1",',
            "});",
        ),
        P,
    ),
    Syntax(
        "typescript-credentials-object",
        "client.ts",
        lines(
            'import { S3Client } from "@aws-sdk/client-s3";',
            "export const s3 = new S3Client({",
            '  region: "us-east-1",',
            '  credentials: { accessKeyId: "@KEY@", secretAccessKey: "@SECRET@" },',
            "});",
        ),
        P,
    ),
    Syntax(
        "java-basic-aws-credentials",
        "Main.java",
        lines(
            "import com.amazonaws.auth.BasicAWSCredentials;",
            'AWSCredentials creds = new BasicAWSCredentials("@KEY@", "@SECRET@");',
        ),
        P,
    ),
    Syntax(
        "go-new-static-credentials",
        "main.go",
        lines(
            "func client() *s3.S3 {",
            '\tcreds := credentials.NewStaticCredentials("@KEY@", "@SECRET@", "")',
            "\treturn s3.New(sess, aws.NewConfig().WithCredentials(creds))",
            "}",
        ),
        P,
    ),
    Syntax(
        "go-struct-literal",
        "config.go",
        lines(
            "var creds = aws.Credentials{",
            '\tAccessKeyID:     "@KEY@",',
            '\tSecretAccessKey: "@SECRET@",',
            '\tSource:          "static",',
            "}",
        ),
        P,
    ),
    Syntax(
        "csharp-basic-aws-credentials",
        "Program.cs",
        lines(
            "using Amazon.Runtime;",
            'var credentials = new BasicAWSCredentials("@KEY@", "@SECRET@");',
        ),
        P,
    ),
    Syntax(
        "csharp-appsettings-json",
        "appsettings.json",
        lines(
            "{",
            '  "AWS": {',
            '    "Region": "us-east-1",',
            '    "AccessKey": "@KEY@",',
            '    "SecretKey": "@SECRET@"',
            "  }",
            "}",
        ),
        P,
    ),
    Syntax(
        "ruby-aws-credentials-new",
        "s3.rb",
        lines("require 'aws-sdk-s3'", "creds = Aws::Credentials.new('@KEY@', '@SECRET@')"),
        P,
    ),
    Syntax(
        "ruby-hash-rockets",
        "aws.rb",
        lines(
            "AWS.config(",
            "  :access_key_id => '@KEY@',",
            "  :secret_access_key => '@SECRET@'",
            ")",
        ),
        P,
    ),
    Syntax(
        "php-credentials-array",
        "s3.php",
        lines(
            "<?php",
            "$s3 = new Aws\\S3\\S3Client([",
            "    'region' => 'us-east-1',",
            "    'credentials' => [",
            "        'key'    => '@KEY@',",
            "        'secret' => '@SECRET@',",
            "    ],",
            "]);",
        ),
        P,
    ),
    Syntax(
        "s3cmd-s3cfg",
        ".s3cfg",
        lines(
            "[default]",
            "access_key = @KEY@",
            "secret_key = @SECRET@",
            "host_base = s3.amazonaws.com",
        ),
        P,
    ),
    Syntax(
        "rclone-conf",
        "rclone.conf",
        lines(
            "[s3]",
            "type = s3",
            "provider = AWS",
            "access_key_id = @KEY@",
            "secret_access_key = @SECRET@",
            "region = us-east-1",
        ),
        P,
    ),
    Syntax(
        "boto-config",
        ".boto",
        lines(
            "[Credentials]",
            "aws_access_key_id = @KEY@",
            "aws_secret_access_key = @SECRET@",
        ),
        P,
    ),
    Syntax(
        "console-csv",
        "accessKeys.csv",
        lines("Access key ID,Secret access key", "@KEY@,@SECRET@"),
        P,
    ),
    Syntax(
        "console-csv-with-user",
        "credentials.csv",
        lines(
            "User name,Password,Access key ID,Secret access key,Console login link",
            "deploy,,@KEY@,@SECRET@,https://signin.aws.amazon.com/console",
        ),
        P,
    ),
    Syntax("crlf-line-endings", "credentials", INI_CREDENTIALS, P, newline="\r\n"),
    Syntax(
        "markdown-code-block",
        "README.md",
        lines(
            "# Deploying",
            "",
            "Configure the CLI first:",
            "",
            "```ini",
            "[default]",
            "aws_access_key_id = @KEY@",
            "aws_secret_access_key = @SECRET@",
            "```",
        ),
        P,
    ),
    Syntax(
        "lone-key-id-in-log",
        "server.log",
        lines(
            "2026-01-01T00:00:00Z INFO starting",
            "2026-01-01T00:00:01Z WARN request signed with @KEY@ was denied",
        ),
        ((KEY_ID, "KEY", None),),
    ),
    Syntax(
        "lone-secret-in-ci-script",
        "ci.sh",
        lines('echo "AWS_SECRET_ACCESS_KEY=@SECRET@" >> "$GITHUB_ENV"'),
        ((SECRET, None, "SECRET"),),
    ),
    Syntax(
        "credentials-with-session-token",
        ".aws/credentials",
        lines(
            "[temporary]",
            "aws_access_key_id = @ASIA@",
            "aws_secret_access_key = @SECRET@",
            "aws_session_token = @IQOJ_TOKEN@",
        ),
        ((PAIR, "ASIA", "SECRET"), (TOKEN, None, "IQOJ_TOKEN")),
    ),
    Syntax(
        "sts-get-session-token-json",
        "sts.json",
        lines(
            "{",
            '    "Credentials": {',
            '        "AccessKeyId": "@ASIA@",',
            '        "SecretAccessKey": "@SECRET@",',
            '        "SessionToken": "@FWOG_TOKEN@",',
            '        "Expiration": "2026-01-01T12:00:00+00:00"',
            "    }",
            "}",
        ),
        ((PAIR, "ASIA", "SECRET"), (TOKEN, None, "FWOG_TOKEN")),
    ),
    Syntax(
        "bare-prefixed-session-token",
        "notes.txt",
        lines("pasted from the console:", "@IQOJ_TOKEN@"),
        ((TOKEN, None, "IQOJ_TOKEN"),),
    ),
    Syntax(
        "bedrock-long-term-key",
        "bedrock.env",
        lines("AWS_REGION=us-west-2", "AWS_BEARER_TOKEN_BEDROCK=@ABSK@"),
        ((BEDROCK, None, "ABSK"),),
    ),
    Syntax(
        "bedrock-short-term-key",
        "bedrock.sh",
        lines("export AWS_BEARER_TOKEN_BEDROCK=@BEDROCK_SHORT@"),
        ((BEDROCK, None, "BEDROCK_SHORT"),),
    ),
    Syntax("asia-key-id", "ids.txt", lines("caller: @ASIA@"), ((KEY_ID, "ASIA", None),)),
    Syntax("abia-key-id", "ids.txt", lines("caller: @ABIA@"), ((KEY_ID, "ABIA", None),)),
    Syntax("acca-key-id", "ids.txt", lines("caller: @ACCA@"), ((KEY_ID, "ACCA", None),)),
    Syntax("a3t-key-id", "ids.txt", lines("caller: @A3T@"), ((KEY_ID, "A3T", None),)),
]


def generated_values() -> dict[str, str]:
    """Fresh credentials for every marker a template may use."""
    return {
        "KEY": key_id(),
        "SECRET": keys.secret_key(),
        "KEY2": key_id(),
        "SECRET2": keys.secret_key(),
        "ASIA": key_id("ASIA"),
        "ABIA": key_id("ABIA"),
        "ACCA": key_id("ACCA"),
        "A3T": key_id("A3TX"),
        "IQOJ_TOKEN": keys.session_token("IQoJb3JpZ2luX2Vj"),
        "FWOG_TOKEN": keys.session_token("FwoGZXIvYXdz", length=400),
        "ABSK": keys.bedrock_long_term_key(),
        "BEDROCK_SHORT": keys.bedrock_short_term_key(),
    }


class TestSyntaxes:
    """Each syntax a credential is leaked in gives exactly the expected findings and lines."""

    def test_table_is_large_enough(self) -> None:
        """The table covers at least 30 distinct syntaxes, each with a unique id."""
        ids = [s.id for s in SYNTAXES]
        assert len(ids) >= 30
        assert len(set(ids)) == len(ids)

    @pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.id)
    def test_syntax(self, syntax: Syntax, tmp_path: Path) -> None:
        """The snippet yields exactly the expected kinds, key IDs, secrets and line numbers."""
        values = generated_values()
        path = write(tmp_path / syntax.filename, syntax.render(values))
        findings = scan(path)
        assert summary(findings) == syntax.expected_rows(values)
        for finding in findings:
            assert [loc.provenance.path for loc in finding.locations] == [str(path)]

    def test_two_profiles_pair_each_key_with_its_own_secret(self, tmp_path: Path) -> None:
        """Two profiles give two distinct pairs, never a key ID with the other profile's secret."""
        k1, s1, k2, s2 = key_id(), keys.secret_key(), key_id(), keys.secret_key()
        text = lines(
            "[a]",
            f"aws_access_key_id = {k1}",
            f"aws_secret_access_key = {s1}",
            "[b]",
            f"aws_access_key_id = {k2}",
            f"aws_secret_access_key = {s2}",
        )
        pairs = {(f.key_id, f.secret) for f in scan(write(tmp_path / "credentials", text))}
        assert pairs == {(k1, s1), (k2, s2)}

    def test_secret_first_profiles_pair_each_key_with_its_own_secret(self, tmp_path: Path) -> None:
        """Blocks that list the secret before the key ID still pair within each block."""
        k1, s1, k2, s2 = key_id(), keys.secret_key(), key_id(), keys.secret_key()
        text = lines(
            f"PROD_AWS_SECRET_ACCESS_KEY={s1}",
            f"PROD_AWS_ACCESS_KEY_ID={k1}",
            f"DEV_AWS_SECRET_ACCESS_KEY={s2}",
            f"DEV_AWS_ACCESS_KEY_ID={k2}",
        )
        pairs = {(f.key_id, f.secret) for f in scan(write(tmp_path / ".env", text))}
        assert pairs == {(k1, s1), (k2, s2)}

    def test_key_and_secret_far_apart_are_not_paired(self, tmp_path: Path) -> None:
        """A key ID and a secret many lines apart are two lone findings, not a pair."""
        k, s = key_id(), keys.secret_key()
        filler = ["# unrelated"] * 20
        text = lines(f"aws_access_key_id = {k}", *filler, f"aws_secret_access_key = {s}")
        rows = summary(scan(write(tmp_path / "notes.ini", text)))
        assert rows == [(KEY_ID, k, None, 1), (SECRET, None, s, 22)]

    def test_key_and_secret_in_different_files_are_not_paired(self, tmp_path: Path) -> None:
        """Pairing stays inside one file: a key ID here and a secret there are two findings."""
        k, s = key_id(), keys.secret_key()
        write(tmp_path / "a.env", f"AWS_ACCESS_KEY_ID={k}\n")
        write(tmp_path / "b.env", f"AWS_SECRET_ACCESS_KEY={s}\n")
        assert {f.kind for f in scan(tmp_path)} == {KEY_ID, SECRET}

    def test_key_id_next_to_a_commit_sha_is_not_a_pair(self, tmp_path: Path) -> None:
        """A key ID followed by a 40-hex SHA-1 is a lone key ID, not a pair with the SHA."""
        k = key_id()
        path = write(tmp_path / "audit.csv", f"{k},{SHA1}\n")
        assert summary(scan(path)) == [(KEY_ID, k, None, 1)]

    def test_one_credential_in_many_files_is_one_finding(self, tmp_path: Path) -> None:
        """The same pair in several files and formats is one finding listing every location."""
        k, s = key_id(), keys.secret_key()
        dotenv = f"AWS_ACCESS_KEY_ID={k}\nAWS_SECRET_ACCESS_KEY={s}\n"
        paths = [write(tmp_path / d / ".env", dotenv) for d in ("api", "web", "worker")]
        paths.append(
            write(
                tmp_path / "ops" / "creds.json",
                f'{{\n"AccessKeyId": "{k}",\n"SecretAccessKey": "{s}"}}\n',
            )
        )
        findings = scan(tmp_path)
        assert len(findings) == 1
        (finding,) = findings
        assert (finding.kind, finding.key_id, finding.secret) == (PAIR, k, s)
        where = sorted((loc.provenance.path, loc.line) for loc in finding.locations)
        assert where == sorted([(str(p), 1) for p in paths[:3]] + [(str(paths[3]), 2)])


# --- Decoys ---------------------------------------------------------------------------------


def _with(secret: str, word: str) -> str:
    """A 40-character secret-shaped value that starts with a placeholder word."""
    return (word + secret)[:40]


def _decoys() -> list[tuple[str, str]]:
    k, s = key_id(), keys.secret_key()
    return [
        (
            "doc-example-credentials",
            f"aws_access_key_id = {DOC_KEY_ID}\naws_secret_access_key = {DOC_SECRET}\n",
        ),
        ("doc-example-positional", f'new BasicAWSCredentials("{DOC_KEY_ID}", "{DOC_SECRET}")\n'),
        ("sha1-after-keyword", f"aws_secret_access_key = {SHA1}\n"),
        ("sha1-upper-after-keyword", f"AWS_SECRET_ACCESS_KEY={SHA1.upper()}\n"),
        ("x-placeholder-secret", "aws_secret_access_key = " + "X" * 40 + "\n"),
        ("x-placeholder-key-id", "aws_access_key_id = AKIAXXXXXXXXXXXXXXXX\n"),
        ("your-secret-here", f"aws_secret_access_key = {_with(s, 'YOURSECRETACCESSKEYHERE')}\n"),
        ("replace-me", f"AWS_SECRET_ACCESS_KEY={_with(s, 'REPLACEME')}\n"),
        ("changeme", f"secret_key = {_with(s, 'changeme')}\n"),
        ("repeated-key-id", "aws_access_key_id = AKIAAAAAAAAAAAAAAAAA\n"),
        ("sequential-key-id", "aws_access_key_id = AKIAABCDEFGHIJKLMNOP\n"),
        ("run-in-secret", f"aws_secret_access_key = {s[:17]}zzzzzz{s[23:]}\n"),
        ("sequential-secret", "aws_secret_access_key = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN\n"),
        ("github-actions-secret", "aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n"),
        ("shell-variable", 'AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}"\n'),
        ("python-environ", 'aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"]\n'),
        ("node-process-env", "secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,\n"),
        ("terraform-variable", "secret_key = var.aws_secret_access_key\n"),
        ("helm-template", "secretKey: {{ .Values.aws.secretAccessKey | b64enc }}\n"),
        ("key-id-with-prefix-char", f"token=X{k}\n"),
        ("key-id-with-suffix-char", f"token={k}9\n"),
        ("key-id-inside-token", f"build-id: ab12{k}cd34ef\n"),
        ("secret-41-chars", f"aws_secret_access_key = {s}Q\n"),
        ("secret-39-chars", f"aws_secret_access_key = {s[:39]}\n"),
        ("iam-user-id", f'"UserId": "{key_id("AIDA")}"\n'),
        ("iam-role-id", f'"RoleId": "{key_id("AROA")}"\n'),
        ("lowercase-key-id", f"aws_access_key_id = {k.lower()}\n"),
    ]


DECOY_IDS = [name for name, _ in _decoys()]


class TestDecoys:
    """Values shaped like credentials that are not ones are not reported."""

    @pytest.mark.parametrize("name", DECOY_IDS)
    def test_decoy_is_not_a_finding(self, name: str, tmp_path: Path) -> None:
        """The decoy gives no finding at all."""
        text = dict(_decoys())[name]
        assert scan(write(tmp_path / "decoy.txt", text)) == []

    def test_doc_examples_reported_as_info_on_request(self, tmp_path: Path) -> None:
        """With include_examples the documentation pair is reported, marked example, as info."""
        text = f"aws_access_key_id = {DOC_KEY_ID}\naws_secret_access_key = {DOC_SECRET}\n"
        findings = scan(write(tmp_path / "credentials", text), include_examples=True)
        assert [(f.kind, f.key_id, f.secret, f.example, f.severity) for f in findings] == [
            (PAIR, DOC_KEY_ID, DOC_SECRET, True, Severity.INFO)
        ]

    def test_doc_example_key_id_alone_on_request(self, tmp_path: Path) -> None:
        """With include_examples a lone documentation key ID is an info example finding."""
        findings = scan(write(tmp_path / "a.txt", f"id {DOC_KEY_ID}\n"), include_examples=True)
        assert [(f.kind, f.example, f.severity) for f in findings] == [
            (KEY_ID, True, Severity.INFO)
        ]

    def test_real_pair_is_not_marked_example(self, tmp_path: Path) -> None:
        """A generated credential is never flagged as a documentation example."""
        text = f"aws_access_key_id = {key_id()}\naws_secret_access_key = {keys.secret_key()}\n"
        findings = scan(write(tmp_path / "credentials", text), include_examples=True)
        assert [(f.example, f.severity) for f in findings] == [(False, Severity.CRITICAL)]

    @pytest.mark.parametrize(
        ("prefix", "key_type"), [("AIDA", "iam_user_id"), ("AROA", "iam_role_id")]
    )
    def test_identifiers_only_on_request(self, prefix: str, key_type: str, tmp_path: Path) -> None:
        """IAM unique IDs appear only with include_identifiers, as info identifiers."""
        ident = key_id(prefix)
        path = write(tmp_path / "iam.json", f'{{"Id": "{ident}"}}\n')
        assert scan(path) == []
        findings = scan(path, include_identifiers=True)
        assert [(f.kind, f.key_id, f.key_type, f.severity) for f in findings] == [
            (Kind.IDENTIFIER, ident, key_type, Severity.INFO)
        ]

    def test_canary_key_id_is_info(self, tmp_path: Path) -> None:
        """A key ID from a canary-token account is reported as canary, at info severity."""
        account = sorted(keyid.CANARY_ACCOUNTS)[0]
        k = key_id(account=account)
        findings = scan(write(tmp_path / "a.txt", f"aws_access_key_id = {k}\n"))
        assert [(f.key_id, f.account_id, f.canary, f.severity) for f in findings] == [
            (k, account, True, Severity.INFO)
        ]

    def test_canary_pair_is_info(self, tmp_path: Path) -> None:
        """A full pair from a canary-token account is still info, not critical."""
        account = sorted(keyid.CANARY_ACCOUNTS)[-1]
        k, s = key_id(account=account), keys.secret_key()
        path = write(
            tmp_path / "credentials", f"aws_access_key_id = {k}\naws_secret_access_key = {s}\n"
        )
        findings = scan(path)
        assert [(f.kind, f.canary, f.severity) for f in findings] == [(PAIR, True, Severity.INFO)]

    def test_non_canary_key_id_is_not_canary(self, tmp_path: Path) -> None:
        """An ordinary generated key ID decodes to its own account and is not a canary."""
        account = keys.account_id()
        k = key_id(account=account)
        (finding,) = scan(write(tmp_path / "a.txt", f"id: {k}\n"))
        assert (finding.account_id, finding.canary, finding.severity) == (
            account,
            False,
            Severity.HIGH,
        )


# --- Severity -------------------------------------------------------------------------------


class TestSeverity:
    """Without an inventory, severity follows the kind of credential."""

    @pytest.mark.parametrize(
        ("text", "kind", "severity"),
        [
            (
                "aws_access_key_id = @KEY@\naws_secret_access_key = @SECRET@\n",
                PAIR,
                Severity.CRITICAL,
            ),
            ("aws_session_token = @IQOJ_TOKEN@\n", TOKEN, Severity.CRITICAL),
            ("id: @KEY@\n", KEY_ID, Severity.HIGH),
            ("id: @ASIA@\n", KEY_ID, Severity.MEDIUM),
            ("aws_secret_access_key = @SECRET@\n", SECRET, Severity.HIGH),
            ("AWS_BEARER_TOKEN_BEDROCK=@ABSK@\n", BEDROCK, Severity.CRITICAL),
            ("AWS_BEARER_TOKEN_BEDROCK=@BEDROCK_SHORT@\n", BEDROCK, Severity.HIGH),
        ],
        ids=[
            "pair-critical",
            "session-token-critical",
            "akia-high",
            "asia-medium",
            "secret-high",
            "bedrock-long-term-critical",
            "bedrock-short-term-high",
        ],
    )
    def test_severity(self, text: str, kind: Kind, severity: Severity, tmp_path: Path) -> None:
        """The one finding has the expected kind and severity."""
        syntax = Syntax("severity", "f.txt", text, ())
        findings = scan(write(tmp_path / "f.txt", syntax.render(generated_values())))
        assert [(f.kind, f.severity) for f in findings] == [(kind, severity)]

    def test_findings_sorted_most_severe_first(self, tmp_path: Path) -> None:
        """Findings come out critical, high, medium, info, whatever their order in the files."""
        canary = key_id(account=sorted(keyid.CANARY_ACCOUNTS)[1])
        write(tmp_path / "a.txt", f"canary {canary}\n")
        write(tmp_path / "b.txt", f"temp {key_id('ASIA')}\n")
        write(tmp_path / "c.txt", f"aws_secret_access_key = {keys.secret_key()}\n")
        write(
            tmp_path / "d.txt",
            f"aws_access_key_id = {key_id()}\naws_secret_access_key = {keys.secret_key()}\n",
        )
        findings = scan(tmp_path)
        assert [(f.kind, f.severity) for f in findings] == [
            (PAIR, Severity.CRITICAL),
            (SECRET, Severity.HIGH),
            (KEY_ID, Severity.MEDIUM),
            (KEY_ID, Severity.INFO),
        ]


# --- Engines --------------------------------------------------------------------------------


def comparable(result: list[Finding]) -> list[tuple[object, ...]]:
    return sorted(
        (
            f.rule_id,
            f.kind.value,
            f.key_id or "",
            f.secret or "",
            tuple((loc.provenance.path or "", loc.line, loc.column) for loc in f.locations),
        )
        for f in result
    )


class TestEngines:
    """hyperscan and the pure-regex fallback give the same findings."""

    def test_same_findings_on_a_corpus(self, tmp_path: Path) -> None:
        """A folder of every syntax plus every decoy scans identically with both engines."""
        values = generated_values()
        for number, syntax in enumerate(SYNTAXES):
            write(
                tmp_path / "syntax" / f"{number:02d}-{syntax.id}" / syntax.filename,
                syntax.render(values),
            )
        for name, text in _decoys():
            write(tmp_path / "decoys" / f"{name}.txt", text)
        # Everything in one file too, so that windows of different rules overlap.
        write(
            tmp_path / "all-in-one.txt",
            "\n".join(s.render(generated_values()) for s in SYNTAXES)
            + "".join(text for _, text in _decoys()),
        )
        results = {
            engine: scan(tmp_path, engine=engine, include_examples=True, include_identifiers=True)
            for engine in ENGINES
        }
        assert comparable(results["hyperscan"]) == comparable(results["regex"])
        assert len(results["regex"]) >= len(SYNTAXES)


# --- Hostile input --------------------------------------------------------------------------

_B64 = string.ascii_letters + string.digits + "/+"
_B32 = string.ascii_uppercase + "234567"


def _hostile(name: str) -> bytes:
    rnd = random.Random(name)
    if name == "repeated-secret-keyword":
        return b"aws_secret_access_key=" * 200_000
    if name == "akia-then-unbounded-base32":
        return b"AKIA" + "".join(rnd.choices(_B32, k=3_000_000)).encode()
    if name == "repeated-akia":
        return b"AKIA" * 1_000_000
    if name == "session-token-keyword-then-5mb-base64":
        return b"aws_session_token=" + "".join(rnd.choices(_B64, k=5_000_000)).encode()
    if name == "secret-keywords-and-separators":
        return b"secret secret_key = : \" ' secret_access=> " * 100_000
    if name == "key-ids-with-keyword-separators":
        return b"AKIAQRSTUVWXYZ234567 secret secret_access_key => , " * 60_000
    if name == "repeated-token-prefixes":
        return b"IQoJb3JpZ2luX2Vj" * 300_000
    if name == "repeated-bedrock-prefix":
        return b"bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t" * 100_000
    if name == "keyword-then-whitespace":
        return b"aws_secret_access_key" + b" " * 3_000_000
    raise AssertionError(name)


HOSTILE = [
    "repeated-secret-keyword",
    "akia-then-unbounded-base32",
    "repeated-akia",
    "session-token-keyword-then-5mb-base64",
    "secret-keywords-and-separators",
    "key-ids-with-keyword-separators",
    "repeated-token-prefixes",
    "repeated-bedrock-prefix",
    "keyword-then-whitespace",
]


def scan_with_hang_guard(path: Path, engine: str = "auto") -> ScanResult:
    """Scan in a child process, killed if it has not finished within the hang guard."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:  # leaving the block terminates the worker
        pending = pool.apply_async(scan_paths, ([str(path)], RULES, ScanOptions(engine=engine)))
        try:
            return pending.get(timeout=HANG_GUARD_SECONDS)
        except multiprocessing.TimeoutError:
            pytest.fail(f"scanning {path.name} did not finish within {HANG_GUARD_SECONDS} s")


class TestHostileInput:
    """Input built to make regexes backtrack or the pipeline go quadratic still finishes."""

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("name", HOSTILE)
    def test_hostile_text_finishes(self, name: str, engine: str, tmp_path: Path) -> None:
        """Megabytes of hostile text scan to completion, with no credential found in them."""
        path = write(tmp_path / f"{name}.txt", _hostile(name))
        assert scan_with_hang_guard(path, engine).findings == []

    def test_many_key_ids_on_one_long_line_finish(self, tmp_path: Path) -> None:
        """An 11 MB minified-style line holding 50k key IDs scans to completion, all found."""
        ids = [key_id() for _ in range(50_000)]
        padding = "." * 200  # a long line: cost must not grow with matches times line length
        text = "var k=[" + ",".join(f'"{k}"/*{padding}*/' for k in ids) + "];"
        path = write(tmp_path / "bundle.min.js", text)
        findings = scan_with_hang_guard(path).findings
        assert {f.key_id for f in findings} == set(ids)

    def test_large_console_csv_finishes(self, tmp_path: Path) -> None:
        """A 2 MB CSV of key ID,secret rows scans to completion, one pair per row."""
        rows = [(key_id(), keys.secret_key()) for _ in range(32_000)]
        text = "Access key ID,Secret access key\n" + "".join(f"{k},{s}\n" for k, s in rows)
        findings = scan_with_hang_guard(write(tmp_path / "keys.csv", text)).findings
        assert len(findings) == len(rows)
        assert {f.kind for f in findings} == {PAIR}

    def test_large_credentials_file_finishes(self, tmp_path: Path) -> None:
        """A credentials file with 24k profiles scans to completion, one pair per profile."""
        rows = [(key_id(), keys.secret_key()) for _ in range(24_000)]
        text = "".join(
            f"[p{i}]\naws_access_key_id = {k}\naws_secret_access_key = {s}\n\n"
            for i, (k, s) in enumerate(rows)
        )
        findings = scan_with_hang_guard(write(tmp_path / "credentials", text)).findings
        assert {(f.key_id, f.secret) for f in findings} == set(rows)
