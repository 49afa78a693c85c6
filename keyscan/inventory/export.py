"""keyscan's own inventory file, as `keyscan inventory export` writes it."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from keyscan.inventory import Inventory, InventoryError
from keyscan.inventory.files import OWN_COLUMNS, OWN_EXTRA
from keyscan.model import ROOT_USER


def inventory_rows(inventory: Inventory) -> list[dict[str, str]]:
    """One row per key, then one per account whose root status is known (an "active" root row
    with no key ID: IAM never lists root keys; "inactive": root has none), sorted so that two
    exports diff well."""
    rows = []
    for record in sorted(inventory.keys.values(), key=lambda r: (r.account_id or "", r.key_id)):
        rows.append({
            "account_id": record.account_id or "", "key_id": record.key_id,
            "user": record.user or "", "status": record.status or "",
            "created": record.created or "", "last_used": record.last_used or "",
            "last_used_service": record.last_used_service or "",
            "last_used_region": record.last_used_region or "", "arn": record.arn or "",
        })  # fmt: skip
    for account, has_keys in sorted(inventory.root_has_keys.items()):
        rows.append({
            **dict.fromkeys((*OWN_COLUMNS, *OWN_EXTRA), ""), "account_id": account,
            "user": ROOT_USER, "status": "active" if has_keys else "inactive",
            "last_used": inventory.root_last_used.get(account, ""),
        })  # fmt: skip
    return rows


def write_inventory(inventory: Inventory, path: Path) -> int:
    """Write JSON lines, or CSV when `path` ends in .csv; returns the number of keys."""
    rows = inventory_rows(inventory)
    if path.suffix.lower() == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*OWN_COLUMNS, *OWN_EXTRA], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = out.getvalue()
    else:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise InventoryError(
            f"cannot write {path}: {exc.strerror}; choose another --output"
        ) from None
    return len(inventory.keys)
