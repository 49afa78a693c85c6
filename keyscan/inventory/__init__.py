"""An organization's access keys, from IAM exports (offline) or from IAM itself (live).

`load_inventory` reads every `--inventory` source into one `Inventory`; `keyscan.enrich`
then tells each finding what its key is: active, root, deleted, someone else's...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from keyscan.errors import KeyscanError
from keyscan.model import ROOT_USER, KeyRecord

LIVE = "aws"  # the --inventory source that asks IAM


class InventoryError(KeyscanError):
    """An inventory that cannot be read, or IAM that cannot be asked."""


@dataclass(slots=True)
class Inventory:
    keys: dict[str, KeyRecord] = field(default_factory=dict)  # by key ID
    # Accounts whose keys the inventory lists: a key of theirs not listed no longer exists.
    listed_accounts: set[str] = field(default_factory=set)
    # Accounts the inventory knows at all (listed, or named by a credential report).
    accounts: set[str] = field(default_factory=set)
    # Whether each account's root user has an access key (credential report, account summary).
    root_has_keys: dict[str, bool] = field(default_factory=dict)
    root_last_used: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # Account summaries say nothing of their account: (file, root has keys), until attributed.
    unattributed: list[tuple[str, bool]] = field(default_factory=list)

    def add_key(self, record: KeyRecord) -> None:
        self.keys[record.key_id] = record
        if record.account_id:
            self.listed_accounts.add(record.account_id)
            self.accounts.add(record.account_id)
            if record.user == ROOT_USER and record.status == "active":
                self.root_has_keys[record.account_id] = True

    def set_root(self, account: str, has_keys: bool, last_used: str | None = None) -> None:
        self.accounts.add(account)
        # Several sources: any that saw a root key wins (a key may be newer than a report).
        self.root_has_keys[account] = self.root_has_keys.get(account, False) or has_keys
        if last_used:
            self.root_last_used[account] = last_used

    def merge(self, other: Inventory) -> None:
        for record in other.keys.values():
            self.add_key(record)
        self.listed_accounts |= other.listed_accounts
        self.accounts |= other.accounts
        for account, has in other.root_has_keys.items():
            self.set_root(account, has, other.root_last_used.get(account))
        self.sources += other.sources
        self.unattributed += other.unattributed

    def __bool__(self) -> bool:
        return bool(self.accounts or self.keys)


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """How to reach IAM for `--inventory aws` and STS for `--verify`."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    timeout: float = 15.0


def load_inventory(sources: Sequence[str], aws: AwsOptions) -> Inventory:
    """Every source into one inventory: `aws` (live IAM), or files recognised by content, each
    optionally prefixed with the account it describes (`123456789012=summary.json`)."""
    inventory = Inventory()
    for source in sources:
        if source == LIVE:
            from keyscan.inventory.live import fetch_inventory

            inventory.merge(fetch_inventory(aws))
        else:
            from keyscan.inventory.files import read_inventory_file

            inventory.merge(read_inventory_file(source))
    for path, has_keys in inventory.unattributed:
        if len(inventory.accounts) != 1:
            raise InventoryError(
                f"{path} is an account summary, which does not say which account it describes; "
                "name it: --inventory 123456789012=" + path
            )
        inventory.set_root(next(iter(inventory.accounts)), has_keys)
    inventory.unattributed.clear()
    return inventory
