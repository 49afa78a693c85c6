"""Suppression: findings a team has accepted (baseline, allow-list) and locations it has marked
(`keyscan:allow`, excluded paths).

Nothing suppressed is dropped: it moves to `ScanResult.suppressed`, is counted in every
report, and `--no-suppress` reports it again. A finding seen at several places stays a finding
while one place is neither marked nor excluded: a key allowed in a test fixture still counts
where it leaks into real code.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from keyscan import __version__
from keyscan.errors import KeyscanError
from keyscan.model import Finding, Location

BASELINE_VERSION = 1

# Reasons, in the order they are checked; reports count findings by them.
BASELINE, ALLOW_LIST, INLINE, EXCLUDED = "baseline", "allow-list", "keyscan:allow", "excluded path"


class BaselineError(KeyscanError):
    """A baseline file that cannot be read or written."""


@dataclass(frozen=True)  # no slots: the compiled globs are cached on the instance
class Suppression:
    """Everything that can hold a finding back, gathered from the config and the baseline."""

    baseline: frozenset[str] = frozenset()  # fingerprints
    allow: frozenset[str] = frozenset()  # key IDs, secrets or fingerprints
    exclude_paths: tuple[str, ...] = ()
    root: str | None = None  # file paths are matched relative to this folder
    enabled: bool = True  # False (--no-suppress): report all, each marked with its reason

    @cached_property
    def _excluded(self) -> re.Pattern[str] | None:
        if not self.exclude_paths:
            return None
        return re.compile("|".join(f"(?:{glob_regex(g)})" for g in self.exclude_paths))

    def excluded(self, location: Location) -> bool:
        pattern, path = self._excluded, location.provenance.path
        if pattern is None or path is None:
            return False
        if location.provenance.source == "file" and self.root is not None:
            full = os.path.abspath(path)
            if full == self.root or full.startswith(self.root.rstrip(os.sep) + os.sep):
                path = os.path.relpath(full, self.root)
        path = path.replace(os.sep, "/").removeprefix("./")
        # A glob that names a folder covers everything in it, as in .gitignore.
        parts = path.split("/")
        return any(pattern.fullmatch("/".join(parts[:n])) for n in range(len(parts), 0, -1))

    def reason(self, finding: Finding) -> tuple[str | None, list[Location]]:
        """Why `finding` is suppressed (None: it is not), and the locations that still count."""
        if finding.fingerprint in self.baseline:
            return BASELINE, finding.locations
        values = {finding.fingerprint, finding.key_id, finding.secret}
        if values & self.allow:
            return ALLOW_LIST, finding.locations
        kept = [loc for loc in finding.locations if not loc.allowed and not self.excluded(loc)]
        if kept:
            return None, kept
        if any(loc.allowed for loc in finding.locations):
            return INLINE, finding.locations
        return EXCLUDED, finding.locations


def apply(
    findings: Iterable[Finding], suppression: Suppression
) -> tuple[list[Finding], list[Finding]]:
    """Split findings into those that count and those suppressed (each with its reason).

    Disabled, every finding counts, but still carries the reason it would have been held back.
    """
    counted: list[Finding] = []
    held: list[Finding] = []
    for finding in findings:
        reason, kept = suppression.reason(finding)
        finding.suppressed = reason
        if reason is not None and suppression.enabled:
            held.append(finding)
            continue
        if suppression.enabled:  # marked and excluded places are not listed with the rest
            finding.locations = kept
        counted.append(finding)
    return counted, held


def glob_regex(glob: str) -> str:
    """A path glob as a regex: `*` within a folder, `**` across folders, `?` one character;
    a glob with no `/` matches a name in any folder; a trailing `/` names a folder."""
    glob = glob.strip()
    anchored = "/" in glob.rstrip("/")
    glob = glob.strip("/")
    out = [] if anchored else ["(?:.*/)?"]
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


# --- The baseline file ------------------------------------------------------------------------


@dataclass(slots=True)
class Baseline:
    """Accepted findings, by fingerprint. The file holds no secret: a hash of the credential,
    its rule, a redacted key ID and the first place it was seen, for people reviewing it."""

    path: Path
    entries: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(self.entries)

    def add(self, findings: Iterable[Finding]) -> int:
        """Add findings not yet listed; returns how many were new."""
        today = datetime.date.today().isoformat()
        added = 0
        for f in findings:
            if f.fingerprint in self.entries:
                continue
            first = f.locations[0].provenance if f.locations else None
            self.entries[f.fingerprint] = {
                "rule": f.rule_id,
                "key_id": f"{f.key_id[:4]}…({len(f.key_id)} chars)" if f.key_id else None,
                "path": first.path if first else None,
                "added": today,
            }
            added += 1
        return added

    def save(self) -> None:
        document = {
            "version": BASELINE_VERSION,
            "tool": {"name": "keyscan", "version": __version__},
            "about": "Findings accepted by this project, by fingerprint; keyscan does not report "
            "them. No secret is stored here. Add entries with `keyscan baseline update`.",
            "findings": [{"fingerprint": k, **v} for k, v in sorted(self.entries.items())],
        }
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        try:
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)  # a reader never sees half a baseline
        except OSError as exc:
            raise BaselineError(
                f"cannot write the baseline {self.path}: {exc.strerror}; choose another --output"
            ) from None


def load_baseline(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(
            f"baseline {path} does not exist; create it with `keyscan baseline create`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(
            f"cannot read the baseline {path} ({exc}); restore it from version control or "
            "create it again with `keyscan baseline create --force`"
        ) from None
    entries = document.get("findings") if isinstance(document, dict) else None
    if not (
        isinstance(entries, list)
        and document.get("version") == BASELINE_VERSION
        and all(isinstance(e, dict) and _is_fingerprint(e.get("fingerprint")) for e in entries)
    ):
        raise BaselineError(
            f"{path} is not a keyscan baseline (version {BASELINE_VERSION}, a list of findings "
            "with fingerprints); create it with `keyscan baseline create --force`"
        )
    return Baseline(path, {e["fingerprint"]: {k: v for k, v in e.items() if k != "fingerprint"}
                           for e in entries})  # fmt: skip


def _is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None
