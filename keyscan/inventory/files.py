"""Inventory files, recognised by their content.

- keyscan's own: JSON lines or CSV with `account_id,key_id,user,status,created,last_used`
  (written by `keyscan inventory export`);
- `aws iam list-access-keys` JSON (`{"AccessKeyMetadata": [...]}`), one or many documents;
- the IAM credential report: its CSV, or `aws iam get-credential-report` JSON (base64);
- `aws iam get-account-summary` JSON (`AccountAccessKeysPresent`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keyscan import keyid
from keyscan.inventory import Inventory, InventoryError
from keyscan.model import ROOT_USER, KeyRecord

OWN_COLUMNS = ("account_id", "key_id", "user", "status", "created", "last_used")
# Optional in keyscan's own file, after the required ones.
OWN_EXTRA = ("last_used_service", "last_used_region", "arn")
REPORT_START = ("user", "arn", "user_creation_time")
EXPECTED = (
    "expected keyscan's inventory (JSON lines or CSV with the header "
    f"{','.join(OWN_COLUMNS)}), `aws iam list-access-keys` JSON, the IAM credential report "
    "(CSV, or `aws iam get-credential-report` JSON) or `aws iam get-account-summary` JSON"
)
_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}")
_ACCOUNT = re.compile(r"[0-9]{12}")
_PREFIXED = re.compile(r"([0-9]{12})=(.+)", re.DOTALL)


def read_inventory_file(source: str) -> Inventory:
    """One file (`ACCOUNT=PATH` names the account an account summary describes)."""
    account = None
    prefixed = _PREFIXED.fullmatch(source)
    if prefixed and not Path(source).exists():
        account, source = prefixed.groups()
    path = Path(source)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InventoryError(f"inventory {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise InventoryError(f"inventory {path} is a folder; name the file") from None
    except OSError as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{path} is not UTF-8 text: {EXPECTED}") from None
    inventory = Inventory(sources=[str(path)])
    reader = _Reader(path, inventory, account)
    stripped = text.lstrip()
    if not stripped:
        raise InventoryError(f"{path} is empty: {EXPECTED}")
    if stripped[0] in "{[":
        reader.json_documents(text)
    else:
        reader.csv_table(text)
    return inventory


def add_credential_report(inventory: Inventory, text: str, name: str) -> None:
    """A credential report's CSV (as IAM returns it live) into `inventory`."""
    _Reader(Path(name), inventory, None).csv_table(text)


class _Reader:
    def __init__(self, path: Path, inventory: Inventory, account: str | None) -> None:
        self.path = path
        self.inventory = inventory
        self.account = account

    def fail(self, what: str) -> InventoryError:
        return InventoryError(f"{self.path}: {what}; {EXPECTED}")

    # --- JSON ----------------------------------------------------------------------------

    def json_documents(self, text: str) -> None:
        for number, document in enumerate(_documents(text, self.fail), 1):
            self.json_value(document, f"document {number}")

    def json_value(self, value: Any, where: str) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value, 1):
                self.json_value(item, f"{where}, item {i}")
        elif not isinstance(value, dict):
            raise self.fail(f"{where} is a {type(value).__name__}, not an object")
        elif "AccessKeyMetadata" in value:
            self.list_access_keys(value["AccessKeyMetadata"], where)
        elif "SummaryMap" in value:
            self.account_summary(value["SummaryMap"], where)
        elif "Content" in value and "ReportFormat" in value:
            self.encoded_report(value, where)
        elif "key_id" in value and "account_id" in value:
            self.own_record({k: _text(v) for k, v in value.items()}, where)
        else:
            keys = ", ".join(sorted(value)[:6]) or "none"
            raise self.fail(f"{where} is not an inventory record (its keys: {keys})")

    def list_access_keys(self, entries: Any, where: str) -> None:
        if not isinstance(entries, list):
            raise self.fail(f"{where}: AccessKeyMetadata is not a list")
        for i, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or not {"AccessKeyId", "Status"} <= set(entry):
                raise self.fail(f"{where}, access key {i} lacks AccessKeyId or Status")
            key = self.key_id(str(entry["AccessKeyId"]), f"{where}, access key {i}")
            self.inventory.add_key(
                KeyRecord(
                    account_id=keyid.decode_account_id(key),
                    key_id=key,
                    user=_text(entry.get("UserName")),
                    status=self.status(str(entry["Status"]), f"{where}, access key {i}"),
                    created=_text(entry.get("CreateDate")),
                )
            )

    def account_summary(self, summary: Any, where: str) -> None:
        if not isinstance(summary, dict) or "AccountAccessKeysPresent" not in summary:
            raise self.fail(f"{where}: SummaryMap has no AccountAccessKeysPresent")
        has_keys = bool(summary["AccountAccessKeysPresent"])
        if self.account:
            self.inventory.set_root(self.account, has_keys)
        else:
            self.inventory.unattributed.append((str(self.path), has_keys))

    def encoded_report(self, value: dict[str, Any], where: str) -> None:
        try:
            content = base64.b64decode(str(value["Content"]), validate=True).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError):
            raise self.fail(f"{where}: the credential report's Content is not base64 CSV") from None
        self.csv_table(content)

    # --- CSV -----------------------------------------------------------------------------

    def csv_table(self, text: str) -> None:
        rows = csv.reader(io.StringIO(text))
        header = [h.strip() for h in next(rows, [])]
        if tuple(header[:3]) == REPORT_START:
            self.credential_report(header, rows)
        elif tuple(header[: len(OWN_COLUMNS)]) == OWN_COLUMNS:
            unknown = set(header[len(OWN_COLUMNS) :]) - set(OWN_EXTRA)
            if unknown:
                raise self.fail(f"unknown column {sorted(unknown)[0]!r} in the header")
            for number, row in enumerate(rows, 2):
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise self.fail(f"line {number} has {len(row)} fields, not {len(header)}")
                self.own_record(dict(zip(header, row, strict=True)), f"line {number}")
        else:
            raise self.fail(f"unrecognised header {','.join(header)[:120]!r}")

    def credential_report(self, header: list[str], rows: Iterator[list[str]]) -> None:
        for number, row in enumerate(rows, 2):
            if not row:
                continue
            if len(row) != len(header):
                raise self.fail(f"credential report line {number} has {len(row)} fields")
            fields = dict(zip(header, row, strict=True))
            account = fields["arn"].split(":")[4] if fields["arn"].count(":") >= 5 else ""
            if not _ACCOUNT.fullmatch(account):
                raise self.fail(f"credential report line {number}: no account in its arn")
            self.inventory.accounts.add(account)
            if fields["user"] == ROOT_USER:
                active = [fields.get(f"access_key_{n}_active") == "true" for n in (1, 2)]
                used = [fields.get(f"access_key_{n}_last_used_date", "N/A") for n in (1, 2)]
                last = max(
                    (u for u in used if u not in ("N/A", "no_information", "")), default=None
                )
                self.inventory.set_root(account, any(active), last)

    # --- keyscan's own -------------------------------------------------------------------

    def own_record(self, fields: dict[str, str | None], where: str) -> None:
        unknown = set(fields) - set(OWN_COLUMNS) - set(OWN_EXTRA)
        if unknown:
            raise self.fail(f"{where}: unknown field {sorted(unknown)[0]!r}")
        account = (fields.get("account_id") or "").strip()
        if not _ACCOUNT.fullmatch(account):
            raise self.fail(f"{where}: account_id {account!r} is not 12 digits")
        user = (fields.get("user") or "").strip() or None
        status = self.status(fields.get("status") or "", where)
        key = (fields.get("key_id") or "").strip()
        if not key:  # the root user's key, known only to exist (credential report, summary)
            if user != ROOT_USER:
                raise self.fail(f"{where}: key_id is empty (allowed only for {ROOT_USER})")
            self.inventory.set_root(account, status == "active", fields.get("last_used") or None)
            return
        self.inventory.add_key(
            KeyRecord(
                account_id=account,
                key_id=self.key_id(key, where),
                user=user,
                status=status,
                created=fields.get("created") or None,
                last_used=fields.get("last_used") or None,
                last_used_service=fields.get("last_used_service") or None,
                last_used_region=fields.get("last_used_region") or None,
                arn=fields.get("arn") or None,
            )
        )

    def key_id(self, value: str, where: str) -> str:
        if not _KEY_ID.fullmatch(value):
            raise self.fail(f"{where}: {value[:24]!r} is not an access key ID")
        return value

    def status(self, value: str, where: str) -> str:
        status = value.strip().lower()
        if status not in ("active", "inactive"):
            raise self.fail(f"{where}: status {value[:20]!r} is not Active or Inactive")
        return status


def _documents(text: str, fail: Any) -> Iterator[Any]:
    """One or more JSON documents, one after the other (JSON lines, or outputs appended)."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, exc.pos) + 1
            raise fail(f"invalid JSON at line {line} ({exc.msg})") from None
        yield value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
