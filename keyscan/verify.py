"""`--verify`: ask STS GetCallerIdentity *with each found key pair* whether it works.

Opt-in, because it sends the credential to AWS (signed, never in clear) and leaves a trace in
the owner's CloudTrail. Documentation examples are never sent; canary-token accounts only with
--verify-canaries, since using such a key alerts whoever planted it. No secret reaches a log
line or an error message.
"""

from __future__ import annotations

import concurrent.futures
import datetime
from collections.abc import Iterable
from typing import Any

from keyscan.inventory import AwsOptions
from keyscan.model import Finding, Kind, Verification

MAX_PARALLEL = 4  # STS throttles; a handful at a time is enough for a scan's few pairs
# Error codes that mean "these credentials do not work", not "could not tell".
_INVALID = {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "AccessDenied",
            "UnrecognizedClientException", "InvalidAccessKeyId"}  # fmt: skip


def verify(findings: Iterable[Finding], options: AwsOptions, canaries: bool = False) -> None:
    """Set `verification` on every finding that holds a key pair."""
    from keyscan.inventory.live import boto3_session, client_config

    pairs = [f for f in findings if f.kind is Kind.ACCESS_KEY_PAIR and f.key_id and f.secret]
    to_check: list[Finding] = []
    for finding in pairs:
        if finding.example:
            finding.verification = Verification("skipped", reason="AWS documentation example")
        elif finding.canary and not canaries:
            finding.verification = Verification(
                "skipped", reason="canary-token account: using the key alerts its owner"
            )
        else:
            to_check.append(finding)
    if not to_check:
        return
    session = boto3_session(None)  # the found keys sign: no ambient profile is read
    config = client_config(options, attempts=3)
    region = options.region or "us-east-1"

    def check(finding: Finding) -> Verification:
        return _check(session, config, region, options.endpoint_url, finding)

    with concurrent.futures.ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        for finding, result in zip(to_check, pool.map(check, to_check), strict=True):
            finding.verification = result


def _check(
    session: Any, config: Any, region: str, endpoint: str | None, f: Finding
) -> Verification:
    from botocore.exceptions import BotoCoreError, ClientError

    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    try:
        sts = session.client(
            "sts", aws_access_key_id=f.key_id, aws_secret_access_key=f.secret,
            aws_session_token=None, region_name=region, endpoint_url=endpoint, config=config,
        )  # fmt: skip
        arn = sts.get_caller_identity().get("Arn")
        return Verification("valid", arn=arn, checked_at=now)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _INVALID:
            return Verification("invalid", checked_at=now, reason=code)
        return Verification("error", checked_at=now, reason=f"STS answered {code or 'an error'}")
    except BotoCoreError as exc:
        # The exception's text names the endpoint, never the credentials.
        return Verification("error", checked_at=now, reason=type(exc).__name__)
