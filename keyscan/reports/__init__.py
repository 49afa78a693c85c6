"""Render a `ScanResult` for people (text) and machines (json, jsonl, sarif, csv).

Reports know nothing of regexes or git: they read findings. Secrets are redacted here, at the
last step, unless the user asked to see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyscan import __version__
from keyscan.model import Finding, Location, ScanResult
from keyscan.rules import Rule

FORMATS = ("text", "json", "jsonl", "sarif", "csv")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    show_secrets: bool = False
    color: bool = False


def redact(secret: str | None, show: bool) -> str | None:
    """First 4 characters and the length: enough to recognise a key, not to use it."""
    if secret is None or show:
        return secret
    return f"{secret[:4]}…({len(secret)} chars)"


def display_path(path: str | None) -> str | None:
    """Paths are bytes on POSIX; undecodable ones are shown with replacement characters."""
    if path is None:
        return None
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def location_dict(location: Location) -> dict[str, Any]:
    return {
        "source": location.provenance.source,
        "path": display_path(location.provenance.path),
        "line": location.line,
        "column": location.column,
    }


def finding_dict(finding: Finding, options: ReportOptions) -> dict[str, Any]:
    """One finding as in the JSON contract documented in the README."""
    return {
        "id": finding.fingerprint,
        "rule": finding.rule_id,
        "kind": finding.kind.value,
        "key_id": finding.key_id,
        "secret": redact(finding.secret, options.show_secrets),
        "key_type": finding.key_type,
        "account_id": finding.account_id,
        "canary": finding.canary,
        "example": finding.example,
        "severity": finding.severity.label,
        "entropy": finding.entropy,
        "locations": [location_dict(loc) for loc in finding.locations],
    }


def tool_dict() -> dict[str, str]:
    return {"name": "keyscan", "version": __version__}


def render(result: ScanResult, fmt: str, rules: Sequence[Rule], options: ReportOptions) -> str:
    if fmt == "text":
        from keyscan.reports.text import render_text

        return render_text(result, options)
    if fmt in ("json", "jsonl"):
        from keyscan.reports.json import render_json, render_jsonl

        return (render_json if fmt == "json" else render_jsonl)(result, options)
    if fmt == "sarif":
        from keyscan.reports.sarif import render_sarif

        return render_sarif(result, rules, options)
    if fmt == "csv":
        from keyscan.reports.csv import render_csv

        return render_csv(result, options)
    raise ValueError(f"unknown format {fmt!r}")
