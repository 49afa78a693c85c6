"""`--inventory aws`: the inventory read live from IAM, with read-only calls only.

ListUsers, ListAccessKeys, GetAccessKeyLastUsed, GetAccountSummary, GenerateCredentialReport
and GetCredentialReport, plus STS GetCallerIdentity for the account ID: paginated, retried
with backoff, under timeouts. Credentials are the ambient ones (environment, profile, SSO...).
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from keyscan.inventory import AwsOptions, Inventory, InventoryError
from keyscan.model import KeyRecord

REPORT_WAIT = 60.0  # seconds to wait for IAM to generate the credential report


def boto3_session(options: AwsOptions | None) -> Any:
    """A session with the ambient credentials (`options.profile`, AWS_PROFILE...); None: a
    session that reads no profile at all, for requests signed with explicit keys."""
    try:
        import boto3
        import botocore.session
    except ImportError:
        raise InventoryError("live AWS calls need boto3: pip install 'keyscan[aws]'") from None
    from botocore.exceptions import ProfileNotFound

    if options is None:  # no AWS_PROFILE: a profile named there need not exist
        plain = botocore.session.Session(session_vars={"profile": (None, [], None, None)})
        return boto3.Session(botocore_session=plain)
    try:
        return boto3.Session(profile_name=options.profile)
    except ProfileNotFound:
        name = options.profile or os.environ.get("AWS_PROFILE")
        raise InventoryError(
            f"AWS profile {name!r} is not configured; check ~/.aws/config, AWS_PROFILE and "
            "--aws-profile"
        ) from None


def client_config(options: AwsOptions, attempts: int = 4) -> Any:
    from botocore.config import Config

    return Config(
        retries={"max_attempts": attempts, "mode": "standard"},  # backoff with jitter
        connect_timeout=options.timeout,
        read_timeout=options.timeout,
        user_agent_extra="keyscan",
    )


def fetch_inventory(options: AwsOptions) -> Inventory:
    """Every IAM user's access keys in the account of the ambient credentials, and whether
    its root user has keys."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    session = boto3_session(options)
    config = client_config(options)
    region = options.region or session.region_name or "us-east-1"
    where = options.endpoint_url or "AWS"
    try:
        sts = session.client("sts", endpoint_url=options.endpoint_url, region_name=region,
                             config=config)  # fmt: skip
        iam = session.client("iam", endpoint_url=options.endpoint_url, region_name=region,
                             config=config)  # fmt: skip
        account = sts.get_caller_identity()["Account"]
        inventory = Inventory(sources=[f"aws:{account}"])
        inventory.listed_accounts.add(account)
        inventory.accounts.add(account)
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                _add_user_keys(iam, inventory, account, user)
        present = iam.get_account_summary()["SummaryMap"].get("AccountAccessKeysPresent", 0)
        inventory.set_root(account, bool(present))
        _add_credential_report(iam, inventory, account)
        return inventory
    except NoCredentialsError:
        raise InventoryError(
            "no AWS credentials for --inventory aws: set AWS_PROFILE (or --aws-profile), or "
            "export an inventory where credentials are (keyscan inventory export)"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise InventoryError(
            f"IAM refused {exc.operation_name} ({error.get('Code')}: {error.get('Message')}); "
            "the credentials need iam:ListUsers, iam:ListAccessKeys, iam:GetAccessKeyLastUsed, "
            "iam:GetAccountSummary, iam:GenerateCredentialReport and iam:GetCredentialReport"
        ) from None
    except BotoCoreError as exc:
        raise InventoryError(
            f"cannot read the inventory from {where}: {exc}; check the network and "
            "--aws-endpoint-url/--aws-timeout, or use an exported inventory file"
        ) from None


def _add_user_keys(iam: Any, inventory: Inventory, account: str, user: dict[str, Any]) -> None:
    name = user["UserName"]
    for page in iam.get_paginator("list_access_keys").paginate(UserName=name):
        for meta in page["AccessKeyMetadata"]:
            key = meta["AccessKeyId"]
            used = iam.get_access_key_last_used(AccessKeyId=key).get("AccessKeyLastUsed", {})
            last = used.get("LastUsedDate")
            inventory.add_key(
                KeyRecord(
                    account_id=account,
                    key_id=key,
                    user=name,
                    status=str(meta["Status"]).lower(),
                    created=_iso(meta.get("CreateDate")),
                    last_used=_iso(last),
                    last_used_service=_known(used.get("ServiceName")),
                    last_used_region=_known(used.get("Region")),
                    arn=user.get("Arn"),
                )
            )


def _add_credential_report(iam: Any, inventory: Inventory, account: str) -> None:
    """The root user's row: whether it has keys and when they were last used. Best effort:
    the account summary already said whether root keys exist."""
    from botocore.exceptions import ClientError

    from keyscan.inventory.files import add_credential_report

    deadline = time.monotonic() + REPORT_WAIT
    try:
        while iam.generate_credential_report().get("State") != "COMPLETE":
            if time.monotonic() > deadline:
                return
            time.sleep(1)
        content = iam.get_credential_report()["Content"]
    except ClientError:
        return
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else str(content)
    if text and not text.startswith("user,"):  # some SDKs hand back the base64
        text = base64.b64decode(text).decode("utf-8-sig")
    add_credential_report(inventory, text, f"the credential report of {account}")


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def _known(value: Any) -> str | None:
    return None if value in (None, "N/A") else str(value)
