"""The datastore of organization scans: SQLite, one file, safe to interrupt.

Every repository's result is written in one transaction when it finishes: a run killed
half-way keeps what was done and loses nothing of it, and a repository scanned again replaces
its previous findings (never duplicates them). Secrets are not stored: a finding keeps its
fingerprint, key ID and a redacted hint of its secret (first 4 characters and length).
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from keyscan.errors import KeyscanError
from keyscan.model import Finding, Kind, Location, Provenance, Severity

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, rules_version TEXT NOT NULL,
    sources TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repos (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, path TEXT, url TEXT
);
CREATE TABLE IF NOT EXISTS repo_scans (
    run_id INTEGER NOT NULL REFERENCES runs(id), repo_id INTEGER NOT NULL REFERENCES repos(id),
    status TEXT NOT NULL, error TEXT, blobs INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0, skipped_blobs INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0, finished TEXT NOT NULL, PRIMARY KEY (run_id, repo_id)
);
CREATE TABLE IF NOT EXISTS findings (
    repo_id INTEGER NOT NULL REFERENCES repos(id), fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL, kind TEXT NOT NULL, key_id TEXT, secret_prefix TEXT,
    secret_length INTEGER, severity TEXT NOT NULL, key_type TEXT, account_id TEXT,
    canary INTEGER NOT NULL, example INTEGER NOT NULL, entropy REAL,
    PRIMARY KEY (repo_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS locations (
    repo_id INTEGER NOT NULL, fingerprint TEXT NOT NULL, position INTEGER NOT NULL,
    location TEXT NOT NULL, PRIMARY KEY (repo_id, fingerprint, position)
);
CREATE TABLE IF NOT EXISTS scanned_blobs (
    oid BLOB NOT NULL, rules_version TEXT NOT NULL, PRIMARY KEY (oid, rules_version)
) WITHOUT ROWID;
"""


class StoreError(KeyscanError):
    """A datastore that cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class RepoRecord:
    """One repository's outcome in a run."""

    name: str
    status: str  # "done" | "failed"
    error: str | None
    blobs: int
    bytes: int
    skipped_blobs: int
    seconds: float


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")  # readers (report) never block a run
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path} is not a usable keyscan datastore ({exc}); name another --db"
            ) from None
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif found[0] != str(SCHEMA_VERSION):
            raise StoreError(
                f"{path} was written by another keyscan (schema {found[0]}); name another --db"
            )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, rules_version: str, sources: Sequence[str]) -> int:
        cursor = self._db.execute(
            "INSERT INTO runs (started, rules_version, sources) VALUES (?, ?, ?)",
            (_now(), rules_version, json.dumps(list(sources))),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def unfinished_run(self) -> tuple[int, str] | None:
        """The last run that did not finish: (id, rules version)."""
        row = self._db.execute(
            "SELECT id, rules_version FROM runs WHERE finished IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None

    def finish_run(self, run_id: int) -> None:
        self._db.execute("UPDATE runs SET finished=? WHERE id=?", (_now(), run_id))

    def done_in_run(self, run_id: int) -> set[str]:
        rows = self._db.execute(
            "SELECT r.name FROM repo_scans s JOIN repos r ON r.id=s.repo_id "
            "WHERE s.run_id=? AND s.status='done'",
            (run_id,),
        )
        return {name for (name,) in rows}

    # --- repositories --------------------------------------------------------------------

    def _repo_id(self, db: sqlite3.Connection, name: str, path: str | None, url: str | None) -> int:
        db.execute(
            "INSERT INTO repos (name, path, url) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET path=excluded.path, url=excluded.url",
            (name, path, url),
        )
        return int(db.execute("SELECT id FROM repos WHERE name=?", (name,)).fetchone()[0])

    def record(
        self, run_id: int, record: RepoRecord, path: str | None, url: str | None,
        findings: Sequence[Finding] | None, scanned: Sequence[bytes] = (), rules_version: str = "",
    ) -> None:  # fmt: skip
        """A repository's outcome, in one transaction. `findings` None (a failure) keeps the
        findings of its last successful scan."""
        with self._transaction() as db:
            repo = self._repo_id(db, record.name, path, url)
            db.execute(
                "INSERT OR REPLACE INTO repo_scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, repo, record.status, record.error, record.blobs, record.bytes,
                 record.skipped_blobs, record.seconds, _now()),
            )  # fmt: skip
            if findings is None:
                return
            db.execute("DELETE FROM findings WHERE repo_id=?", (repo,))
            db.execute("DELETE FROM locations WHERE repo_id=?", (repo,))
            for f in findings:
                db.execute(
                    "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (repo, f.fingerprint, f.rule_id, f.kind.value, f.key_id,
                     f.secret[:4] if f.secret else None, len(f.secret) if f.secret else None,
                     f.severity.label, f.key_type, f.account_id, int(f.canary), int(f.example),
                     f.entropy),
                )  # fmt: skip
                db.executemany(
                    "INSERT INTO locations VALUES (?, ?, ?, ?)",
                    [(repo, f.fingerprint, i, _location_json(loc))
                     for i, loc in enumerate(f.locations)],
                )  # fmt: skip
            if scanned:
                db.executemany(
                    "INSERT OR IGNORE INTO scanned_blobs VALUES (?, ?)",
                    [(oid, rules_version) for oid in scanned],
                )

    def scanned_blobs(self, rules_version: str) -> set[bytes]:
        rows = self._db.execute(
            "SELECT oid FROM scanned_blobs WHERE rules_version=?", (rules_version,)
        )
        return {bytes(oid) for (oid,) in rows}

    # --- reading back ----------------------------------------------------------------------

    def latest_repos(self) -> list[RepoRecord]:
        """Each repository's most recent outcome."""
        rows = self._db.execute(
            "SELECT r.name, s.status, s.error, s.blobs, s.bytes, s.skipped_blobs, s.seconds "
            "FROM repo_scans s JOIN repos r ON r.id=s.repo_id WHERE s.run_id = "
            "(SELECT MAX(run_id) FROM repo_scans t WHERE t.repo_id=s.repo_id) ORDER BY r.name"
        )
        return [RepoRecord(*row) for row in rows]

    def findings(self) -> list[Finding]:
        """One finding per credential across every repository, with all their locations
        (each naming its repository)."""
        merged: dict[str, Finding] = {}
        rows = self._db.execute(
            "SELECT r.name, f.* FROM findings f JOIN repos r ON r.id=f.repo_id ORDER BY r.name"
        )
        for row in rows:
            name, repo_id, fp, rule, kind, key_id, prefix, length = row[:8]
            severity, key_type, account, canary, example, entropy = row[8:]
            finding = merged.get(fp)
            if finding is None:
                hint = None if prefix is None else prefix + "\0" * (length - len(prefix))
                finding = merged[fp] = Finding(
                    rule_id=rule, kind=Kind(kind), key_id=key_id, secret=hint,
                    severity=Severity.parse(severity), key_type=key_type, account_id=account,
                    canary=bool(canary), example=bool(example), entropy=entropy, fingerprint=fp,
                )  # fmt: skip
            locations = self._db.execute(
                "SELECT location FROM locations WHERE repo_id=? AND fingerprint=? "
                "ORDER BY position",
                (repo_id, fp),
            )
            finding.locations.extend(_location(text, name) for (text,) in locations)
        return list(merged.values())


def _location_json(location: Location) -> str:
    p = location.provenance
    return json.dumps({
        "source": p.source, "path": p.path, "kind": p.kind, "commit": p.commit,
        "author": p.author, "email": p.email, "date": p.date, "reachable": p.reachable,
        "line": location.line, "column": location.column, "allowed": location.allowed,
        "decoded": list(location.decoded),
    })  # fmt: skip


def _location(text: str, repo: str) -> Location:
    d = json.loads(text)
    provenance = Provenance(
        d["source"], d["path"], d["kind"], d["commit"], d["author"], d["email"], d["date"],
        d["reachable"], repo=repo,
    )  # fmt: skip
    return Location(provenance, d["line"], d["column"], d["allowed"], tuple(d["decoded"]))
