"""The data that flows through the pipeline: Blob -> Match -> Finding.

Every stage speaks in these nouns; none of them knows where the bytes came from beyond the
`Provenance` attached to a blob.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    """Ordered so that `max()` and sorting pick the most severe first."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


# What `--fail-on` accepts: a severity floor, "any" finding, or "none" (report only).
# "active" and "root" need an inventory: an active (or root) key, a root key.
FAIL_ON = ("any", *(s.label for s in Severity), "active", "root", "none")


class Kind(enum.StrEnum):
    ACCESS_KEY_PAIR = "access_key_pair"
    ACCESS_KEY_ID = "access_key_id"
    SECRET_ACCESS_KEY = "secret_access_key"
    SESSION_TOKEN = "session_token"
    BEDROCK_API_KEY = "bedrock_api_key"
    IDENTIFIER = "identifier"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a blob was seen. A blob may have several (the same content at many paths)."""

    source: str  # "file" | "stdin" | "git"
    path: str | None = None
    # Git only: what kind of object, the commit that introduced it at `path`, and whether any
    # ref (or reflog) still reaches it.
    kind: str | None = None  # "blob" | "commit message" | "tag message" | "note"
    commit: str | None = None
    author: str | None = None
    email: str | None = None
    date: str | None = None
    reachable: bool | None = None
    repo: str | None = None  # organization scans: the repository it was seen in


@dataclass(slots=True)
class Blob:
    """Bytes to scan. `offset`/`line` place a chunk of a large file inside the whole file."""

    data: bytes
    provenance: Provenance
    offset: int = 0  # byte offset of data[0] in the original content
    line: int = 0  # newlines in the original content before data[0]
    column: int = 0  # bytes of data[0]'s line that come before data[0]
    # Matches starting before `owned_from` (relative to data) belong to the previous chunk.
    owned_from: int = 0
    owned_to: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A confirmed rule match inside one blob, before filtering and grouping."""

    rule_id: str
    kind: Kind
    start: int  # byte offset in the blob's data
    end: int
    key_id: str | None
    secret: str | None


@dataclass(frozen=True, slots=True)
class Location:
    provenance: Provenance
    line: int
    column: int
    allowed: bool = False  # the line carries an inline `keyscan:allow`
    # How the key was reached inside the blob, e.g. ("gzip", "tar:app/config.yaml", "base64");
    # line and column then count in the innermost content that has lines of its own.
    decoded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One access key as an organization's inventory knows it (IAM, or an export of it)."""

    account_id: str | None
    key_id: str
    user: str | None  # ROOT_USER for the root user's keys
    status: str | None  # "active" | "inactive", as IAM says (lower case)
    created: str | None = None
    last_used: str | None = None  # ISO date
    last_used_service: str | None = None
    last_used_region: str | None = None
    arn: str | None = None


ROOT_USER = "<root_account>"  # IAM's name for the root user in the credential report


@dataclass(frozen=True, slots=True)
class InventoryFacts:
    """What the inventory says about a finding's key: how dangerous it is and what to do."""

    status: str  # active | inactive | deleted | root | probable_root | foreign | unknown | canary
    account_id: str | None = None
    user: str | None = None
    arn: str | None = None
    created: str | None = None
    last_used: str | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None
    note: str | None = None
    remediation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verification:
    """The answer of STS GetCallerIdentity, asked with the found key pair (--verify)."""

    status: str  # valid | invalid | skipped | error
    arn: str | None = None
    checked_at: str | None = None
    reason: str | None = None  # why skipped, or what went wrong (never the secret)


@dataclass(slots=True)
class Finding:
    """One credential, with every place it was seen."""

    rule_id: str
    kind: Kind
    key_id: str | None
    secret: str | None
    severity: Severity
    key_type: str | None = None
    account_id: str | None = None
    canary: bool = False
    example: bool = False
    entropy: float | None = None
    locations: list[Location] = field(default_factory=list)
    fingerprint: str = ""
    omitted_locations: int = 0  # beyond --max-locations
    # Why a suppression applies ("baseline", "allow-list", "keyscan:allow", "excluded path");
    # such findings are reported only with --no-suppress, else only counted.
    suppressed: str | None = None
    inventory: InventoryFacts | None = None  # with --inventory
    verification: Verification | None = None  # with --verify


@dataclass(slots=True)
class ScanStats:
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0
    skipped: int = 0  # objects an incremental scan knew to be clean and did not read


@dataclass(frozen=True, slots=True)
class RepoStatus:
    """An organization scan's latest outcome for one repository."""

    name: str
    status: str  # "done" | "failed"
    error: str | None
    blobs: int
    bytes: int


@dataclass(slots=True)
class ScanResult:
    findings: list[Finding]
    stats: ScanStats
    warnings: list[str] = field(default_factory=list)
    # Findings held back by a baseline, allow-list or inline comment: counted, never lost.
    suppressed: list[Finding] = field(default_factory=list)
    repositories: list[RepoStatus] | None = None  # organization reports only
    # Incremental scans: objects read and found clean, to be skipped next time.
    clean_objects: list[bytes] = field(default_factory=list)
