"""Render a `ScanResult` for people (text) and machines (json, jsonl, sarif, csv).

Reports know nothing of regexes or git: they read findings. Secrets are redacted here, at the
last step, unless the user asked to see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyscan import __version__
from keyscan.model import Finding, Location, ScanResult

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep `regex` out of it
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
    p = location.provenance
    result: dict[str, Any] = {
        "source": p.source,
        "path": display_path(p.path),
        "line": location.line,
        "column": location.column,
        "decoded": list(location.decoded),
    }
    if p.repo is not None:
        result["repo"] = p.repo
    if p.source == "git":
        result.update(
            kind=p.kind,
            commit=p.commit,
            author=p.author,
            email=p.email,
            date=p.date,
            reachable=p.reachable,
        )
    return result


def describe_location(location: Location) -> str:
    """One line for people: path:line:column, then the commit, date and author for git."""
    p = location.provenance
    if p.kind in ("commit message", "tag message"):
        where = f"{p.kind} {(p.commit or '')[:12]}"
        where += f" ({display_path(p.path)})" if p.path else ""
        where += f", line {location.line}"
    else:
        default = "(stdin)" if p.source == "stdin" else "(no path: a dangling blob)"
        where = f"{display_path(p.path) or default}:{location.line}:{location.column}"
        if p.kind == "note":
            where = f"note on {where}"
    if location.decoded:
        where += f" [{' › '.join(location.decoded)}]"
    if p.repo is not None:
        where = f"{p.repo}: {where}"
    facts = []
    if p.commit and p.kind not in ("commit message", "tag message"):
        facts.append(f"commit {p.commit[:12]}")
    if p.date:
        facts.append(p.date[:10])
    if p.author:
        facts.append(f"{p.author} <{p.email}>" if p.email else p.author)
    if p.reachable is False:
        facts.append("unreachable")
    return f"{where}  ({', '.join(facts)})" if facts else where


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
        "locations_omitted": finding.omitted_locations,
        "suppressed": finding.suppressed,
        "inventory": inventory_dict(finding),
        "verification": verification_dict(finding),
    }


def inventory_dict(finding: Finding) -> dict[str, Any] | None:
    facts = finding.inventory
    if facts is None:
        return None
    return {
        "status": facts.status,
        "account_id": facts.account_id,
        "user": facts.user,
        "arn": facts.arn,
        "created": facts.created,
        "last_used": facts.last_used,
        "last_used_service": facts.last_used_service,
        "last_used_region": facts.last_used_region,
        "note": facts.note,
        "remediation": list(facts.remediation),
    }


def verification_dict(finding: Finding) -> dict[str, Any] | None:
    v = finding.verification
    if v is None:
        return None
    return {"status": v.status, "arn": v.arn, "checked_at": v.checked_at, "reason": v.reason}


def describe_inventory(finding: Finding) -> list[str]:
    """For people: what the key is (status, user, last use), then what to do."""
    lines = []
    facts = finding.inventory
    if facts is not None:
        head = {
            "root": "ROOT USER KEY",
            "probable_root": "probably the ROOT USER's key",
            "active": "active key",
            "inactive": "inactive key",
            "deleted": "deleted key",
            "foreign": "another account's key",
            "unknown": "not in the inventory",
            "canary": "canary token",
        }.get(facts.status, facts.status)
        parts = [head]
        if facts.user and facts.status != "root":
            parts.append(f"user {facts.user}")
        if facts.last_used:
            used = ", ".join(x for x in (facts.last_used_service, facts.last_used_region) if x)
            parts.append(f"last used {facts.last_used[:10]}" + (f" ({used})" if used else ""))
        elif facts.status in ("active", "inactive", "root"):
            parts.append("never used")
        if facts.created:
            parts.append(f"created {facts.created[:10]}")
        lines.append(" · ".join(parts))
        if facts.note:
            lines.append(f"note: {facts.note}")
    v = finding.verification
    if v is not None:
        detail = v.arn or v.reason
        lines.append(f"verified: {v.status}" + (f" ({detail})" if detail else ""))
    if facts is not None:
        lines.extend(f"→ {step}" for step in facts.remediation)
    return lines


def suppressed_counts(result: ScanResult) -> dict[str, int]:
    """How many findings each reason held back, most first."""
    counts: dict[str, int] = {}
    for finding in result.suppressed:
        reason = finding.suppressed or "unknown"
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def describe_suppressed(result: ScanResult) -> str | None:
    """'3 suppressed (2 by baseline, 1 by keyscan:allow)', or None when nothing was."""
    counts = suppressed_counts(result)
    if not counts:
        return None
    by = ", ".join(f"{n} by {reason}" for reason, n in counts.items())
    return f"{len(result.suppressed)} suppressed ({by}; --no-suppress shows them)"


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
