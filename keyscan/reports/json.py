"""JSON (one document) and JSON Lines (one finding per line)."""

from __future__ import annotations

import json

from keyscan.model import ScanResult
from keyscan.reports import ReportOptions, finding_dict, suppressed_counts, tool_dict


def render_json(result: ScanResult, options: ReportOptions) -> str:
    document: dict[str, object] = {
        "version": 1,
        "tool": tool_dict(),
        "findings": [finding_dict(f, options) for f in result.findings],
        "suppressed": suppressed_counts(result),
        "stats": {
            "blobs": result.stats.blobs,
            "bytes": result.stats.bytes,
            "seconds": round(result.stats.seconds, 3),
        },
    }
    if result.repositories is not None:
        document["repositories"] = {
            "scanned": sum(1 for r in result.repositories if r.status == "done"),
            "failed": [
                {"name": r.name, "error": r.error}
                for r in result.repositories
                if r.status != "done"
            ],
            "bytes": sum(r.bytes for r in result.repositories),
        }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_jsonl(result: ScanResult, options: ReportOptions) -> str:
    return "".join(
        json.dumps(finding_dict(f, options), ensure_ascii=False) + "\n" for f in result.findings
    )
