"""What each finding's key is, given the organization's inventory and any verification: its
status, a severity that puts root and active keys first, and the exact steps to take."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from keyscan import keyid
from keyscan.findings import sort_findings
from keyscan.inventory import Inventory
from keyscan.model import ROOT_USER, Finding, InventoryFacts, Severity

ROOT_STATUSES = ("root", "probable_root")
_SEVERITY = {
    "root": Severity.CRITICAL,
    "probable_root": Severity.CRITICAL,
    "active": Severity.CRITICAL,
    "inactive": Severity.MEDIUM,
    "foreign": Severity.MEDIUM,
    "deleted": Severity.LOW,
    "canary": Severity.INFO,
}
_CLEAN_UP = "Remove it from the code and from git history; load keys from the environment or a "
_CLEAN_UP += "secrets manager instead."


def enrich(findings: Iterable[Finding], inventory: Inventory | None) -> list[Finding]:
    """Set each finding's inventory facts and severity (inventory and verification), and sort:
    root keys first, then by severity."""
    out = list(findings)
    for finding in out:
        if inventory is not None:
            finding.inventory = facts(finding, inventory)
        _apply_verification(finding)
        status = finding.inventory.status if finding.inventory else None
        if status in _SEVERITY:
            finding.severity = _SEVERITY[status]
        if finding.verification and finding.verification.status == "invalid":
            # STS refused the pair: deleted or deactivated since the inventory was taken.
            finding.severity = min(finding.severity, Severity.MEDIUM)
    return sort_findings(out)


def is_root(finding: Finding) -> bool:
    if finding.inventory and finding.inventory.status in ROOT_STATUSES:
        return True
    v = finding.verification
    return bool(v and v.status == "valid" and v.arn and v.arn.endswith(":root"))


def is_active(finding: Finding) -> bool:
    """Usable now, as far as keyscan knows: verified, or active or root in the inventory and
    not refused by STS."""
    if finding.verification and finding.verification.status == "invalid":
        return False
    if finding.inventory and finding.inventory.status in ("active", *ROOT_STATUSES):
        return True
    return bool(finding.verification and finding.verification.status == "valid")


def facts(finding: Finding, inventory: Inventory) -> InventoryFacts:
    key = finding.key_id
    account = finding.account_id or (keyid.decode_account_id(key) if key else None)
    if finding.canary:
        return InventoryFacts("canary", account, remediation=(
            "A canary token: using it alerts whoever planted it. Do not use or verify it; "
            "remove it from the code.",
        ))  # fmt: skip
    record = inventory.keys.get(key) if key else None
    if record is not None:
        account = record.account_id or account
        status = "root" if record.user == ROOT_USER else record.status or "unknown"
        return InventoryFacts(
            status, account, record.user, record.arn, record.created, record.last_used
            or (inventory.root_last_used.get(account) if status == "root" and account else None),
            record.last_used_service, record.last_used_region,
            remediation=_remediation(status, key, record.user, account),
        )  # fmt: skip
    if key is None or account is None:
        return InventoryFacts("unknown", account, note="no key ID or account to look up")
    if keyid.key_type(key) == "temporary":
        return InventoryFacts("unknown", account, note=(
            "temporary credentials (ASIA…) are not listed in IAM; they expire, but check "
            "CloudTrail for their use while they lasted"
        ), remediation=_remediation("unknown", key, None, account))  # fmt: skip
    if account not in inventory.accounts:
        status = "foreign" if inventory else "unknown"
        return InventoryFacts(status, account, remediation=_remediation(status, key, None, account))
    if inventory.root_has_keys.get(account):
        return InventoryFacts(
            "probable_root", account, last_used=inventory.root_last_used.get(account),
            note="no IAM user lists this key, and the root user of its account has an access key",
            remediation=_remediation("probable_root", key, None, account),
        )  # fmt: skip
    note = None
    if account not in inventory.listed_accounts:
        return InventoryFacts("unknown", account, note=(
            f"the inventory lists no access keys of account {account}; add its keys "
            "(--inventory aws, or an export) to tell a live key from a deleted one"
        ))  # fmt: skip
    if account not in inventory.root_has_keys:
        note = (
            f"whether the root user of {account} has keys is not known; add the credential "
            "report or account summary to rule out a root key"
        )
    return InventoryFacts("deleted", account, note=note,
                          remediation=_remediation("deleted", key, None, account))  # fmt: skip


def _remediation(
    status: str, key: str | None, user: str | None, account: str | None
) -> tuple[str, ...]:
    trail = (
        "Check CloudTrail for its use: aws cloudtrail lookup-events --lookup-attributes "
        f"AttributeKey=AccessKeyId,AttributeValue={key}"
    )
    named = f"--user-name {shlex.quote(user)} " if user else ""
    if status in ROOT_STATUSES:
        return (
            f"Sign in as the root user of account {account} and delete its access keys (IAM "
            "console, Security credentials): the root user should have none.",
            "Enable MFA on the root user.",
            trail,
            _CLEAN_UP,
        )
    if status == "active":
        return (
            f"aws iam update-access-key {named}--access-key-id {key} --status Inactive",
            trail,
            f"aws iam delete-access-key {named}--access-key-id {key}",
            _CLEAN_UP,
        )
    if status == "inactive":
        return (f"aws iam delete-access-key {named}--access-key-id {key}", trail, _CLEAN_UP)
    if status == "deleted":
        return ("The key no longer exists in IAM: nothing to revoke. " + _CLEAN_UP,)
    if status == "foreign":
        return (
            f"The key belongs to account {account}, not one in the inventory: tell its owner, "
            "or AWS (aws-security@amazon.com) if the owner is unknown.",
            _CLEAN_UP,
        )
    return (trail, _CLEAN_UP)


def _apply_verification(finding: Finding) -> None:
    """A key pair that STS accepted is live whatever the inventory says; one it refused is not
    usable (inventory facts stay, but an unknown status becomes what STS showed)."""
    v = finding.verification
    if v is None or v.status != "valid":
        return
    base = finding.inventory
    if v.arn and v.arn.endswith(":root"):
        status = "root"
    elif base is not None and base.status in ("active", *ROOT_STATUSES):
        return
    else:
        status = "active"
    account = v.arn.split(":")[4] if v.arn and v.arn.count(":") >= 5 else finding.account_id
    user = v.arn.rsplit("/", 1)[-1] if v.arn and ":user/" in v.arn else None
    key = finding.key_id or ""
    finding.inventory = InventoryFacts(
        status, account, user or (base.user if base else None), v.arn,
        base.created if base else None, base.last_used if base else None,
        note="verified live with STS GetCallerIdentity",
        remediation=_remediation(status, key, user, account),
    )  # fmt: skip
