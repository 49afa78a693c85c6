"""CSV: one row per location, so spreadsheets can filter by path."""

from __future__ import annotations

import csv
import io

from keyscan.model import ScanResult
from keyscan.reports import ReportOptions, display_path, redact

COLUMNS = (
    "id", "severity", "rule", "kind", "key_id", "secret", "key_type", "account_id",
    "canary", "example", "source", "path", "line", "column", "suppressed",
    "inventory_status", "user", "verification",
)  # fmt: skip


def render_csv(result: ScanResult, options: ReportOptions) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for f in result.findings:
        for loc in f.locations:
            writer.writerow(
                (
                    f.fingerprint, f.severity.label, f.rule_id, f.kind.value, f.key_id or "",
                    redact(f.secret, options.show_secrets) or "", f.key_type or "",
                    f.account_id or "", str(f.canary).lower(), str(f.example).lower(),
                    loc.provenance.source, display_path(loc.provenance.path) or "",
                    loc.line, loc.column, f.suppressed or "",
                    f.inventory.status if f.inventory else "",
                    (f.inventory.user or "") if f.inventory else "",
                    f.verification.status if f.verification else "",
                )
            )  # fmt: skip
    return out.getvalue()
