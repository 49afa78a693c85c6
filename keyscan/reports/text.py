"""Text for people: grouped by credential, most severe first, colored on a terminal."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from keyscan.model import Finding, ScanResult, Severity
from keyscan.reports import (
    ReportOptions,
    describe_inventory,
    describe_location,
    describe_suppressed,
    redact,
)

_COLORS = {
    Severity.CRITICAL: "bright_red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "bright_black",
}
INDENT = " " * 10


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _finding_lines(f: Finding, options: ReportOptions) -> list[str]:
    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if options.color else text

    head = [style(f"{f.severity.label.upper():<9}", fg=_COLORS[f.severity], bold=True), f.rule_id]
    if f.key_id:
        head.append(style(f.key_id, bold=True))
    if f.secret:
        head.append(f"secret {redact(f.secret, options.show_secrets)}")
    lines = [" ".join(head)]
    facts = []
    if f.key_type:
        facts.append(f.key_type.replace("_", "-"))
    if f.account_id:
        facts.append(f"account {f.account_id}")
    if f.canary:
        facts.append("canary-token account: do not use, it alerts its owner")
    if f.example:
        facts.append("AWS documentation example")
    if f.suppressed:
        facts.append(f"suppressed by {f.suppressed} (reported because of --no-suppress)")
    if facts:
        lines.append(INDENT + " · ".join(facts))
    known = describe_inventory(f)
    if known:
        lines.append(INDENT + style(known[0], bold=f.severity >= Severity.CRITICAL))
        lines.extend(INDENT + line for line in known[1:])
    lines.extend(INDENT + describe_location(loc) for loc in f.locations)
    if f.omitted_locations:
        lines.append(
            f"{INDENT}… and {f.omitted_locations} more (raise --max-locations to list them)"
        )
    return lines


def render_text(result: ScanResult, options: ReportOptions) -> str:
    out: list[str] = []
    for f in result.findings:
        out.extend(_finding_lines(f, options))
        out.append("")
    stats = result.stats
    noun = "blob" if stats.blobs == 1 else "blobs"  # files, or git objects
    scanned = f"{stats.blobs:,} {noun}, {_size(stats.bytes)} in {stats.seconds:.2f} s"
    if result.findings:
        counts = Counter(f.severity for f in result.findings)
        by_level = ", ".join(f"{counts[s]} {s.label}" for s in sorted(counts, reverse=True))
        noun = "finding" if len(result.findings) == 1 else "findings"
        out.append(f"{len(result.findings)} {noun} ({by_level}) · {scanned}")
    else:
        out.append(f"No AWS credentials found · {scanned}")
    held = describe_suppressed(result)
    if held:
        out.append(held)
    if result.repositories is not None:
        failed = [r for r in result.repositories if r.status != "done"]
        done = len(result.repositories) - len(failed)
        out.append(f"{done:,} repositories scanned, {len(failed)} failed")
        out.extend(f"  failed: {r.name}: {r.error}" for r in failed)
    return "\n".join(out) + "\n"
