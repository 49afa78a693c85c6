"""SARIF 2.1.0, with what GitHub code scanning reads: rule help, security-severity,
partialFingerprints and physical locations with regions."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Sequence
from typing import Any

from keyscan.model import Finding, Kind, Location, ScanResult, Severity
from keyscan.reports import (
    ReportOptions,
    describe_inventory,
    display_path,
    inventory_dict,
    redact,
    tool_dict,
    verification_dict,
)
from keyscan.rules import Rule
from keyscan.suppress import INLINE

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/keyscan/keyscan"

# GitHub maps security-severity to its levels: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
_RULE_SEVERITY = {
    Kind.ACCESS_KEY_PAIR: Severity.CRITICAL,
    Kind.SESSION_TOKEN: Severity.CRITICAL,
    Kind.BEDROCK_API_KEY: Severity.CRITICAL,
    Kind.ACCESS_KEY_ID: Severity.HIGH,
    Kind.SECRET_ACCESS_KEY: Severity.HIGH,
    Kind.IDENTIFIER: Severity.INFO,
}
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_HELP = (
    "A credential for AWS was found in the scanned content. Treat it as compromised: "
    "deactivate and delete the key in IAM (aws iam update-access-key --status Inactive, then "
    "aws iam delete-access-key), check CloudTrail for its use, remove it from the code and from "
    "git history, and load credentials from the environment or a secrets manager instead."
)


def _rule_dict(rule: Rule) -> dict[str, Any]:
    severity = _RULE_SEVERITY[rule.kind]
    help_text = f"{rule.description}. {_HELP}"
    refs = "".join(f"\n- <{ref}>" for ref in rule.references)
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.replace("-", ".").split(".")),
        "shortDescription": {"text": rule.description},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": help_text,
            "markdown": f"**{rule.description}**\n\n{_HELP}"
            + (f"\n\nReferences:{refs}" if refs else ""),
        },
        "helpUri": rule.references[0] if rule.references else INFORMATION_URI,
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[severity],
            "tags": ["security", "secret", "aws"],
            "precision": "high",
        },
    }


def _uri(location: Location) -> str:
    path = display_path(location.provenance.path)
    if path is None:
        return "stdin"
    if os.path.isabs(path):
        return "file://" + urllib.parse.quote(path)
    return urllib.parse.quote(path.replace(os.sep, "/"))


def _message(finding: Finding, options: ReportOptions) -> str:
    parts = [f"{finding.severity.label.capitalize()} {finding.kind.value.replace('_', ' ')}:"]
    if finding.key_id:
        parts.append(f"key ID {finding.key_id}")
    if finding.secret:
        parts.append(f"secret {redact(finding.secret, options.show_secrets)}")
    if finding.account_id:
        parts.append(f"account {finding.account_id}")
    if finding.canary:
        parts.append("(a known canary-token account)")
    if finding.example:
        parts.append("(an AWS documentation example)")
    known = describe_inventory(finding)
    if known:
        parts.append("— " + "; ".join(known))
    return " ".join(parts)


def render_sarif(result: ScanResult, rules: Sequence[Rule], options: ReportOptions) -> str:
    # Suppressed findings go in too, marked as such: code scanning shows them as dismissed.
    reported = [*result.findings, *result.suppressed]
    used = {f.rule_id for f in reported}
    known = {rule.id for rule in rules}
    driver_rules = [r for r in rules if r.id in used or not r.identifier]
    index = {r.id: i for i, r in enumerate(driver_rules)}
    held = {id(f) for f in result.suppressed}
    results = []
    for f in reported:
        result_dict: dict[str, Any] = {
            "ruleId": f.rule_id,
            "level": _LEVEL[f.severity],
            "message": {"text": _message(f, options)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(loc)},
                        "region": {"startLine": loc.line, "startColumn": loc.column},
                    }
                }
                for loc in f.locations
            ],
            "partialFingerprints": {"keyscan/credential/v1": f.fingerprint},
            "properties": {
                "severity": f.severity.label,
                "security-severity": _SECURITY_SEVERITY[f.severity],
                "kind": f.kind.value,
                "keyId": f.key_id,
                "accountId": f.account_id,
                "canary": f.canary,
                "example": f.example,
                "suppressedBy": f.suppressed,
                "inventory": inventory_dict(f),
                "verification": verification_dict(f),
            },
        }
        if id(f) in held:
            result_dict["suppressions"] = [
                {
                    "kind": "inSource" if f.suppressed == INLINE else "external",
                    "status": "accepted",
                    "justification": f"suppressed by {f.suppressed}",
                }
            ]
        if f.rule_id in known:
            result_dict["ruleIndex"] = index[f.rule_id]
        results.append(result_dict)
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        **tool_dict(),
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule_dict(r) for r in driver_rules],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
