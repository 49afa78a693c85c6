"""The key inventory: each finding rated by the organization's keys, and --verify.

Live cases run against moto's server on 127.0.0.1, started by these tests as a subprocess
(tests/moto_server.py): users and keys are created there with boto3, their pairs committed to a
real git repository, and keyscan reads IAM (and asks STS) over HTTP as it would ask AWS. Root
keys cannot be simulated by moto, so the root, probable-root, credential-report and
account-summary cases use files written here in the formats AWS prints. Every key is generated
at run time (by moto or tests/keys.py); no request ever leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import keys
import pytest
from conftest import Report, run_cli, run_keyscan, scan_json
from gitrepo import GitRepo
from moto_server import ACCOUNT, HOST, REGION, MotoServer, ambient_env, free_port

from keyscan.keyid import CANARY_ACCOUNTS, decode_account_id

CANARY_ACCOUNT = sorted(CANARY_ACCOUNTS)[0]
DOC_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # AWS documentation values: keyscan never sends them
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXPECTED = "expected keyscan's inventory"
# The credential report's columns, as IAM writes them.
REPORT_HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
ROOT_LAST_USED = "2026-10-02T08:15:00+00:00"
# The only calls --inventory aws may make.
READ_ONLY = {
    "GetCallerIdentity",
    "ListUsers",
    "ListAccessKeys",
    "GetAccessKeyLastUsed",
    "GetAccountSummary",
    "GenerateCredentialReport",
    "GetCredentialReport",
}
BOUND = 30.0  # seconds: an unreachable AWS must fail well within this, never hang


# --- the emulator and the environment -------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake ambient credentials, no AWS configuration or proxy of the user's, no EC2 metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    for name, value in ambient_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def moto(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The server, empty, with IAM authentication off and no request recorded."""
    moto_server.reset()
    yield moto_server
    moto_server.reset()


def iam_client(moto: MotoServer, key: Key | None = None) -> Any:
    creds = {"aws_access_key_id": key.key_id, "aws_secret_access_key": key.secret} if key else {}
    return boto3.client("iam", endpoint_url=moto.url, region_name=REGION, **creds)


@dataclass(frozen=True)
class Key:
    user: str | None
    key_id: str
    secret: str


def create_key(iam: Any, user: str) -> Key:
    made = iam.create_access_key(UserName=user)["AccessKey"]
    return Key(user, made["AccessKeyId"], made["SecretAccessKey"])


@dataclass
class Org:
    """Alice's key is active, Bob's deactivated, Carol's deleted (Carol remains a user)."""

    moto: MotoServer
    alice: Key
    bob: Key
    carol: Key

    @property
    def keys(self) -> list[Key]:
        return [self.alice, self.bob, self.carol]

    def created(self, key: Key) -> str:
        """The key's creation date as boto3 reads it from IAM."""
        metadata = iam_client(self.moto).list_access_keys(UserName=key.user)["AccessKeyMetadata"]
        return next(m["CreateDate"].isoformat() for m in metadata if m["AccessKeyId"] == key.key_id)


@pytest.fixture
def new_org(moto: MotoServer) -> Org:
    """The organization, before anyone asked IAM for a credential report."""
    iam = iam_client(moto)
    for user in ("alice", "bob", "carol"):
        iam.create_user(UserName=user)
    alice, bob, carol = (create_key(iam, user) for user in ("alice", "bob", "carol"))
    iam.update_access_key(UserName="bob", AccessKeyId=bob.key_id, Status="Inactive")
    iam.delete_access_key(UserName="carol", AccessKeyId=carol.key_id)
    return Org(moto, alice, bob, carol)


@pytest.fixture
def org(new_org: Org) -> Org:
    """The organization with a credential report ready, as when one was generated in the last
    hours: keyscan then reads it at once instead of polling IAM for a second."""
    iam_client(new_org.moto).generate_credential_report()
    return new_org


def pair_text(key: Key | tuple[str, str], comment: str = "deploy settings") -> str:
    key_id, secret = (key.key_id, key.secret) if isinstance(key, Key) else key
    return (
        f"# {comment}\n[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    )


@pytest.fixture
def leaked(tmp_path: Path, org: Org) -> GitRepo:
    return leak(tmp_path, org)


def leak(tmp_path: Path, org: Org) -> GitRepo:
    """A repository whose history holds the three pairs; Carol's file is deleted since."""
    repo = GitRepo.init(tmp_path / "repo")
    repo.write("README.md", "# service\n")
    repo.commit("initial")
    repo.write("deploy/alice.ini", pair_text(org.alice))
    repo.commit("deploy settings")
    repo.write("legacy/bob.ini", pair_text(org.bob))
    repo.write("scripts/carol.ini", pair_text(org.carol))
    repo.commit("more settings")
    repo.remove("scripts/carol.ini")
    repo.commit("remove carol's settings")
    return repo


# --- helpers ----------------------------------------------------------------------------------


def finding(report: Report, key_id: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["key_id"] == key_id]
    assert len(found) == 1, f"expected one finding for {key_id}: {report}"
    return found[0]


def status_of(report: Report, key_id: str) -> str:
    return str(finding(report, key_id)["inventory"]["status"])


def order(report: Report) -> list[str]:
    return [f["key_id"] for f in report["findings"]]


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, "a secret reached keyscan's output"


def scan_with(repo: GitRepo | Path, *args: str) -> tuple[int, Report, str]:
    path = repo.path if isinstance(repo, GitRepo) else repo
    return scan_json(*args, str(path))


def live(moto: MotoServer) -> tuple[str, ...]:
    return ("--inventory", "aws", "--aws-endpoint-url", moto.url)


# --- IAM-shaped files ---------------------------------------------------------------------


def list_access_keys(*entries: tuple[str, str, str]) -> str:
    """`aws iam list-access-keys --user-name U` for each (user, key, status), printed one after
    the other as `for u in …; do aws iam list-access-keys --user-name $u; done > keys.json`."""
    documents = []
    for user, key_id, status in entries:
        metadata = {
            "UserName": user,
            "AccessKeyId": key_id,
            "Status": status,
            "CreateDate": "2024-03-01T09:00:00+00:00",
        }
        documents.append(json.dumps({"AccessKeyMetadata": [metadata]}, indent=4) + "\n")
    return "".join(documents)


def credential_report(account: str, root_key: bool, users: tuple[str, ...] = ()) -> str:
    """The IAM credential report CSV: the root user's row, then one row per user."""
    active = "true" if root_key else "false"
    rotated = "2021-05-04T10:00:00+00:00" if root_key else "N/A"
    used = ROOT_LAST_USED if root_key else "N/A"
    where = ("us-east-1", "iam") if root_key else ("N/A", "N/A")
    rows = [
        REPORT_HEADER,
        f"<root_account>,arn:aws:iam::{account}:root,2019-01-01T00:00:00+00:00,not_supported,"
        f"2026-09-30T12:00:00+00:00,not_supported,not_supported,true,{active},{rotated},{used},"
        f"{where[0]},{where[1]},false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    ]
    for user in users:
        rows.append(
            f"{user},arn:aws:iam::{account}:user/{user},2024-03-01T09:00:00+00:00,false,N/A,N/A,"
            "N/A,false,true,2024-03-01T09:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,"
            "N/A,false,N/A"
        )
    return "\n".join(rows) + "\n"


def credential_report_json(csv_text: str) -> str:
    """`aws iam get-credential-report` as the CLI prints it: the CSV in base64."""
    content = base64.b64encode(csv_text.encode()).decode()
    document = {
        "Content": content,
        "ReportFormat": "text/csv",
        "GeneratedTime": "2026-11-01T00:00:00+00:00",
    }
    return json.dumps(document, indent=4) + "\n"


def account_summary(keys_present: int) -> str:
    """`aws iam get-account-summary` as the CLI prints it."""
    summary = {
        "GroupPolicySizeQuota": 5120, "InstanceProfilesQuota": 1000, "Policies": 12,
        "GroupsPerUserQuota": 10, "InstanceProfiles": 0, "AttachedPoliciesPerUserQuota": 10,
        "Users": 2, "PoliciesQuota": 1500, "Providers": 0, "AccountMFAEnabled": 1,
        "AccessKeysPerUserQuota": 2, "AssumeRolePolicySizeQuota": 2048,
        "PolicyVersionsInUseQuota": 10000, "GlobalEndpointTokenVersion": 1,
        "VersionsPerPolicyQuota": 5, "AttachedPoliciesPerGroupQuota": 10,
        "PolicySizeQuota": 6144, "Groups": 1, "AccountSigningCertificatesPresent": 0,
        "UsersQuota": 5000, "ServerCertificatesQuota": 20, "MFADevices": 1,
        "UserPolicySizeQuota": 2048, "PolicyVersionsInUse": 3, "ServerCertificates": 0,
        "Roles": 4, "RolesQuota": 1000, "SigningCertificatesPerUserQuota": 2,
        "MFADevicesInUse": 1, "RolePolicySizeQuota": 10240, "AttachedPoliciesPerRoleQuota": 10,
        "AccountAccessKeysPresent": keys_present, "GroupsQuota": 300,
    }  # fmt: skip
    return json.dumps({"SummaryMap": summary}, indent=4) + "\n"


@dataclass
class Offline:
    """Account A's keys (Alice active, Bob inactive) and keys found in a repository: one of A's
    not listed, one of another account, a canary, and an old-format key ID."""

    root: Path
    account: str
    alice: Key
    bob: Key
    unlisted: Key
    foreign: Key
    canary: Key
    old_key_id: str

    def write(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(text)
        return str(path)

    def listed(self) -> str:
        return self.write(
            "keys.json",
            list_access_keys(
                ("alice", self.alice.key_id, "Active"), ("bob", self.bob.key_id, "Inactive")
            ),
        )

    @property
    def secrets(self) -> list[str]:
        return [k.secret for k in (self.alice, self.bob, self.unlisted, self.foreign, self.canary)]


@pytest.fixture
def offline(tmp_path: Path) -> Offline:
    account = keys.account_id()
    other = keys.account_id()

    def key(user: str | None, owner: str) -> Key:
        return Key(user, keys.key_id(account=owner), keys.secret_key())

    o = Offline(
        root=tmp_path,
        account=account,
        alice=key("alice", account),
        bob=key("bob", account),
        unlisted=key(None, account),
        foreign=key(None, other),
        canary=key(None, CANARY_ACCOUNT),
        old_key_id=keys.old_key_id(),
    )
    found = tmp_path / "found"
    found.mkdir()
    # The unlisted key sits in the file whose path sorts last: root keys still come first.
    for name, k in (
        ("a-alice", o.alice),
        ("b-bob", o.bob),
        ("z-unlisted", o.unlisted),
        ("c-foreign", o.foreign),
        ("d-canary", o.canary),
    ):
        (found / f"{name}.ini").write_text(pair_text(k))
    (found / "e-old.txt").write_text(f"key = {o.old_key_id}\n")
    return o


def scan_offline(o: Offline, *inventory: str, extra: tuple[str, ...] = ()) -> tuple[int, Report]:
    args = [a for source in inventory for a in ("--inventory", source)]
    code, report, stderr = scan_with(o.root / "found", *args, *extra)
    assert code in (0, 1), stderr
    return code, report


# --- live IAM ----------------------------------------------------------------------------------


class TestLiveInventory:
    def test_each_key_gets_its_status_user_and_severity_from_iam(
        self, new_org: Org, tmp_path: Path
    ) -> None:
        """--inventory aws rates the pairs found in git history by what IAM says of each key
        (waiting for IAM to generate the credential report), most dangerous first."""
        org, leaked = new_org, leak(tmp_path, new_org)
        org.moto.forget_requests()
        code, report, stderr = scan_with(leaked, *live(org.moto))
        assert code == 1, stderr
        expected = {
            org.alice.key_id: ("active", "alice", "critical"),
            org.bob.key_id: ("inactive", "bob", "medium"),
            org.carol.key_id: ("deleted", None, "low"),
        }
        seen = {
            f["key_id"]: (f["inventory"]["status"], f["inventory"]["user"], f["severity"])
            for f in report["findings"]
        }
        assert seen == expected
        for key in (org.alice, org.bob):
            facts = finding(report, key.key_id)["inventory"]
            assert facts["account_id"] == ACCOUNT
            assert facts["arn"] == f"arn:aws:iam::{ACCOUNT}:user/{key.user}"
            assert facts["created"] == org.created(key)
            assert facts["note"] is None
        deleted = finding(report, org.carol.key_id)["inventory"]
        # moto's account summary says root has no key: the unlisted key is gone, not root's.
        assert (deleted["account_id"], deleted["arn"], deleted["note"]) == (ACCOUNT, None, None)
        assert finding(report, org.carol.key_id)["verification"] is None
        assert order(report) == [org.alice.key_id, org.bob.key_id, org.carol.key_id]
        actions = org.moto.actions()
        assert actions.count("GenerateCredentialReport") == 2  # STARTED, then COMPLETE
        assert {
            "GetCallerIdentity",
            "ListUsers",
            "ListAccessKeys",
            "GetAccessKeyLastUsed",
            "GetAccountSummary",
            "GetCredentialReport",
        } <= set(actions)
        assert set(actions) <= READ_ONLY, "keyscan must only read IAM"

    def test_remediation_names_the_real_user_and_key(self, org: Org, leaked: GitRepo) -> None:
        """Deactivate-then-delete commands for the active key, delete for the inactive one,
        nothing to revoke for the deleted one."""
        _, report, _ = scan_with(leaked, *live(org.moto))
        a, b = org.alice.key_id, org.bob.key_id
        steps = finding(report, a)["inventory"]["remediation"]
        update = (
            f"aws iam update-access-key --user-name alice --access-key-id {a} --status Inactive"
        )
        delete = f"aws iam delete-access-key --user-name alice --access-key-id {a}"
        assert steps[0] == update
        assert delete in steps
        assert steps.index(update) < steps.index(delete)
        assert any(f"AttributeValue={a}" in step for step in steps)  # the CloudTrail lookup
        steps = finding(report, b)["inventory"]["remediation"]
        assert steps[0] == f"aws iam delete-access-key --user-name bob --access-key-id {b}"
        assert not any("update-access-key" in step for step in steps)
        steps = finding(report, org.carol.key_id)["inventory"]["remediation"]
        assert "nothing to revoke" in steps[0]
        assert not any("aws iam" in step for step in steps)

    def test_fail_on_active_follows_iam(self, org: Org, leaked: GitRepo) -> None:
        """--fail-on active exits 1 while Alice's key is active, 0 once IAM deactivates it
        (--fail-on root is covered with files: moto has no root keys)."""
        code, _, stderr = scan_with(leaked, *live(org.moto), "--fail-on", "active")
        assert code == 1, stderr
        iam_client(org.moto).update_access_key(
            UserName="alice", AccessKeyId=org.alice.key_id, Status="Inactive"
        )
        code, report, stderr = scan_with(leaked, *live(org.moto), "--fail-on", "active")
        assert code == 0, stderr
        assert status_of(report, org.alice.key_id) == "inactive"
        assert len(report["findings"]) == 3  # still reported, just not failing

    def test_text_report_shows_status_user_and_next_steps(self, org: Org, leaked: GitRepo) -> None:
        """People see each key's status and user, and the commands to run, never a secret."""
        result = run_cli("scan", "--no-color", *live(org.moto), str(leaked.path))
        assert result.exit_code == 1, result.stderr
        out = result.stdout
        assert "active key · user alice · never used · created " in out
        assert "inactive key · user bob" in out
        assert "deleted key" in out
        assert (
            f"→ aws iam update-access-key --user-name alice --access-key-id {org.alice.key_id} "
            "--status Inactive"
        ) in out
        assert out.index(org.alice.key_id) < out.index(org.bob.key_id) < out.index(org.carol.key_id)
        assert_no_secret(out + result.stderr, *(k.secret for k in org.keys))

    def test_credentials_iam_refuses_are_exit_2_naming_the_permissions(
        self, org: Org, leaked: GitRepo
    ) -> None:
        """Ambient credentials IAM does not know: exit 2, what was refused and what is needed."""
        org.moto.require_authentication()
        code, report, stderr = scan_with(leaked, *live(org.moto))
        assert code == 2
        assert report == {}
        assert "refused GetCallerIdentity (InvalidClientTokenId" in stderr
        assert "iam:ListAccessKeys" in stderr

    def test_fail_on_active_without_inventory_or_verify_is_a_usage_error(
        self, leaked: GitRepo
    ) -> None:
        """--fail-on active means nothing without a source of liveness: exit 2, not 0."""
        for level in ("active", "root"):
            result = run_cli("scan", "--fail-on", level, str(leaked.path))
            assert result.exit_code == 2
            assert "needs --inventory or --verify" in result.stderr


class TestExportedInventory:
    @pytest.mark.parametrize("name", ["keys.csv", "keys.jsonl"])
    def test_export_then_scan_offline_rates_keys_as_live(
        self, org: Org, leaked: GitRepo, tmp_path: Path, name: str
    ) -> None:
        """`inventory export` writes IAM's keys (not the deleted one); scanning with the file
        gives every finding the same inventory facts as scanning with live IAM."""
        target = tmp_path / name
        result = run_cli(
            "inventory", "export", "--output", str(target), "--aws-endpoint-url", org.moto.url
        )
        assert result.exit_code == 0, result.stderr
        assert f"2 access keys of account {ACCOUNT} written to {target}" in result.stderr
        text = target.read_text()
        if name.endswith(".csv"):
            assert text.splitlines()[0] == (
                "account_id,key_id,user,status,created,last_used,last_used_service,"
                "last_used_region,arn"
            )
            rows = list(csv.DictReader(io.StringIO(text)))
        else:
            rows = [json.loads(line) for line in text.splitlines()]
        assert {(r["account_id"], r["key_id"], r["user"], r["status"]) for r in rows} == {
            (ACCOUNT, org.alice.key_id, "alice", "active"),
            (ACCOUNT, org.bob.key_id, "bob", "inactive"),
            (ACCOUNT, "", "<root_account>", "inactive"),  # root has no key, and that is known
        }
        assert_no_secret(text, *(k.secret for k in org.keys))

        _, from_live, _ = scan_with(leaked, *live(org.moto))
        org.moto.reset()  # IAM is gone: the file alone must carry the inventory
        code, from_file, stderr = scan_with(leaked, "--inventory", str(target))
        assert code == 1, stderr
        assert order(from_file) == order(from_live)
        for f in from_live["findings"]:
            offline = finding(from_file, f["key_id"])
            assert offline["inventory"] == f["inventory"]
            assert offline["severity"] == f["severity"]
        assert org.moto.requests() == []  # reading the file asked nothing of AWS

    def test_fail_on_active_with_an_exported_file(
        self, org: Org, leaked: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The CI use: an exported inventory, no AWS credentials, --fail-on active."""
        target = tmp_path / "keys.csv"
        run_cli("inventory", "export", "-o", str(target), "--aws-endpoint-url", org.moto.url)
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        code, _, _ = scan_with(leaked, "--inventory", str(target), "--fail-on", "active")
        assert code == 1
        keep = [line for line in target.read_text().splitlines() if org.alice.key_id not in line]
        target.write_text("\n".join(keep) + "\n")  # Alice's key deleted since
        code, report, stderr = scan_with(leaked, "--inventory", str(target), "--fail-on", "active")
        assert code == 0, stderr
        assert status_of(report, org.alice.key_id) == "deleted"


# --- --verify ----------------------------------------------------------------------------------


@pytest.fixture
def verify_repo(tmp_path: Path, org: Org) -> GitRepo:
    """Alice's live pair, Carol's deleted pair, a documentation example and a canary pair."""
    repo = GitRepo.init(tmp_path / "verify-repo")
    repo.write("deploy/alice.ini", pair_text(org.alice))
    repo.write("old/carol.ini", pair_text(org.carol))
    repo.write("docs/example.ini", pair_text((DOC_KEY_ID, DOC_SECRET), "from the AWS docs"))
    repo.write("bait/canary.ini", pair_text(canary_pair(), "canary"))
    repo.commit("settings")
    return repo


@functools.cache
def canary_pair() -> tuple[str, str]:
    """A pair in a canary-token account (one per test run is enough)."""
    return keys.key_id(account=CANARY_ACCOUNT), keys.secret_key()


def verification(report: Report, key_id: str) -> dict[str, Any]:
    return dict(finding(report, key_id)["verification"])


class TestVerify:
    def test_live_key_is_valid_and_deleted_key_invalid(
        self, org: Org, verify_repo: GitRepo
    ) -> None:
        """With moto checking signatures as IAM does, STS accepts Alice's pair (with her ARN)
        and refuses Carol's deleted one."""
        org.moto.require_authentication()
        result = run_cli(
            "scan",
            "-f",
            "json",
            "--verify",
            "--aws-endpoint-url",
            org.moto.url,
            str(verify_repo.path),
        )
        assert result.exit_code == 1, result.stderr
        report = json.loads(result.stdout)
        alice = verification(report, org.alice.key_id)
        assert (alice["status"], alice["arn"]) == ("valid", f"arn:aws:iam::{ACCOUNT}:user/alice")
        assert alice["checked_at"]
        carol = verification(report, org.carol.key_id)
        assert (carol["status"], carol["arn"], carol["reason"]) == (
            "invalid",
            None,
            "InvalidClientTokenId",
        )
        # A pair STS accepted is live: an active key of the user the ARN names.
        facts = finding(report, org.alice.key_id)["inventory"]
        assert (facts["status"], facts["user"]) == ("active", "alice")
        assert finding(report, org.carol.key_id)["inventory"] is None
        assert_no_secret(
            result.stdout + result.stderr, org.alice.secret, org.carol.secret, canary_pair()[1]
        )

    def test_examples_and_canaries_are_skipped_and_never_sent(
        self, org: Org, verify_repo: GitRepo
    ) -> None:
        """Only real, non-canary pairs reach STS: each exactly once; nothing signed with the
        documentation example or the canary key."""
        org.moto.require_authentication()
        code, report, stderr = scan_with(
            verify_repo, "--verify", "--include-examples", "--aws-endpoint-url", org.moto.url
        )
        assert code == 1, stderr
        example = verification(report, DOC_KEY_ID)
        assert (example["status"], example["reason"]) == ("skipped", "AWS documentation example")
        canary = verification(report, canary_pair()[0])
        assert canary["status"] == "skipped"
        assert "canary" in canary["reason"]
        assert finding(report, canary_pair()[0])["severity"] == "info"
        assert sorted(org.moto.signing_key_ids()) == sorted([org.alice.key_id, org.carol.key_id])
        assert_no_secret(json.dumps(report) + stderr, org.alice.secret, canary_pair()[1])

    def test_verify_canaries_sends_the_canary_pair(self, org: Org, verify_repo: GitRepo) -> None:
        """--verify-canaries checks canary pairs too (moto does not know the key: invalid)."""
        org.moto.require_authentication()
        code, report, stderr = scan_with(
            verify_repo, "--verify", "--verify-canaries", "--aws-endpoint-url", org.moto.url
        )
        assert code == 1, stderr
        assert verification(report, canary_pair()[0])["status"] == "invalid"
        assert org.moto.signing_key_ids().count(canary_pair()[0]) == 1
        assert DOC_KEY_ID not in org.moto.signing_key_ids()
        assert_no_secret(json.dumps(report) + stderr, canary_pair()[1], org.alice.secret)

    def test_live_inventory_and_verify_under_iam_authentication(
        self, org: Org, verify_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Ambient credentials of an auditor user read IAM (signed, checked), while each found
        pair signs its own STS call; --fail-on active fails on the live key."""
        iam = iam_client(org.moto)
        iam.create_user(UserName="auditor")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="auditor", PolicyName="read", PolicyDocument=json.dumps(policy)
        )
        auditor = create_key(iam, "auditor")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", auditor.key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auditor.secret)
        org.moto.require_authentication()
        result = run_cli(
            "scan",
            "-f",
            "json",
            "--fail-on",
            "active",
            "--verify",
            *live(org.moto),
            str(verify_repo.path),
        )
        assert result.exit_code == 1, result.stderr
        report = json.loads(result.stdout)
        assert status_of(report, org.alice.key_id) == "active"
        assert verification(report, org.alice.key_id)["status"] == "valid"
        assert status_of(report, org.carol.key_id) == "deleted"
        assert verification(report, org.carol.key_id)["status"] == "invalid"
        assert status_of(report, canary_pair()[0]) == "canary"
        assert order(report)[0] == org.alice.key_id
        signers = set(org.moto.signing_key_ids())
        assert signers == {auditor.key_id, org.alice.key_id, org.carol.key_id}
        assert_no_secret(
            result.stdout + result.stderr, org.alice.secret, org.carol.secret, auditor.secret
        )

    def test_fail_on_active_with_verify_counts_only_pairs_sts_accepts(
        self, org: Org, tmp_path: Path
    ) -> None:
        """--verify --fail-on active: 0 for a deleted pair (and a skipped canary), 1 once a
        live pair is among them."""
        org.moto.require_authentication()
        folder = tmp_path / "found"
        folder.mkdir()
        (folder / "carol.ini").write_text(pair_text(org.carol))
        (folder / "canary.ini").write_text(pair_text(canary_pair()))
        args = ("--verify", "--fail-on", "active", "--aws-endpoint-url", org.moto.url)
        code, report, stderr = scan_with(folder, *args)
        assert code == 0, stderr
        assert len(report["findings"]) == 2
        (folder / "alice.ini").write_text(pair_text(org.alice))
        code, _, stderr = scan_with(folder, *args)
        assert code == 1, stderr

    def test_verify_ignores_a_missing_ambient_profile(
        self, org: Org, verify_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The found pairs sign their own calls: an AWS_PROFILE naming no profile is no error."""
        monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
        org.moto.require_authentication()
        code, report, stderr = scan_with(
            verify_repo, "--verify", "--aws-endpoint-url", org.moto.url
        )
        assert code == 1, stderr
        assert verification(report, org.alice.key_id)["status"] == "valid"
        assert verification(report, org.carol.key_id)["status"] == "invalid"

    def test_a_pair_sts_refuses_is_not_active_whatever_a_stale_inventory_says(
        self, org: Org, tmp_path: Path
    ) -> None:
        """An export says Alice's key is active; it has been deleted since. --verify sees STS
        refuse it: --fail-on active passes, and the finding is no longer critical."""
        target = tmp_path / "keys.csv"
        run_cli("inventory", "export", "-o", str(target), "--aws-endpoint-url", org.moto.url)
        iam_client(org.moto).delete_access_key(UserName="alice", AccessKeyId=org.alice.key_id)
        org.moto.require_authentication()
        folder = tmp_path / "found"
        folder.mkdir()
        (folder / "alice.ini").write_text(pair_text(org.alice))
        code, report, stderr = scan_with(
            folder, "--inventory", str(target), "--verify", "--fail-on", "active",
            "--aws-endpoint-url", org.moto.url,
        )  # fmt: skip
        assert code == 0, stderr
        assert status_of(report, org.alice.key_id) == "active"  # as the inventory says...
        assert verification(report, org.alice.key_id)["status"] == "invalid"  # ...but refused
        assert finding(report, org.alice.key_id)["severity"] == "medium"

    def test_verified_text_report_names_the_outcome_without_secrets(
        self, org: Org, verify_repo: GitRepo
    ) -> None:
        """The text report says `verified: valid (ARN)` / `verified: invalid (code)`."""
        org.moto.require_authentication()
        result = run_cli(
            "scan",
            "--no-color",
            "--verify",
            "--aws-endpoint-url",
            org.moto.url,
            str(verify_repo.path),
        )
        assert result.exit_code == 1, result.stderr
        assert f"verified: valid (arn:aws:iam::{ACCOUNT}:user/alice)" in result.stdout
        assert "verified: invalid (InvalidClientTokenId)" in result.stdout
        assert_no_secret(
            result.stdout + result.stderr, org.alice.secret, org.carol.secret, canary_pair()[1]
        )


# --- root, probable root, credential reports and account summaries (files) -----------------


class TestRootAndReports:
    def test_credential_report_with_a_root_key_makes_an_unlisted_key_probable_root(
        self, offline: Offline
    ) -> None:
        """list-access-keys for several users plus a credential report whose root row has an
        active key: the unlisted key of that account is probably root's, critical and first."""
        report_csv = offline.write(
            "credential-report.csv", credential_report(offline.account, True, ("alice", "bob"))
        )
        code, report = scan_offline(offline, offline.listed(), report_csv)
        assert code == 1
        assert order(report)[0] == offline.unlisted.key_id  # its path sorts last
        probable = finding(report, offline.unlisted.key_id)
        assert probable["severity"] == "critical"
        facts = probable["inventory"]
        assert (facts["status"], facts["account_id"]) == ("probable_root", offline.account)
        assert facts["last_used"] == ROOT_LAST_USED
        assert "root user" in facts["note"]
        steps = " ".join(facts["remediation"])
        assert f"root user of account {offline.account}" in steps
        assert "delete its access keys" in steps
        assert "Enable MFA on the root user" in steps
        expected = {
            offline.alice.key_id: ("active", "alice", "critical"),
            offline.bob.key_id: ("inactive", "bob", "medium"),
            offline.foreign.key_id: ("foreign", None, "medium"),
            offline.canary.key_id: ("canary", None, "info"),
            offline.old_key_id: ("unknown", None, "high"),  # a lone key ID: severity unchanged
        }
        for key_id, (status, user, severity) in expected.items():
            f = finding(report, key_id)
            assert (f["inventory"]["status"], f["inventory"]["user"], f["severity"]) == (
                status,
                user,
                severity,
            ), key_id
        foreign = finding(report, offline.foreign.key_id)["inventory"]
        assert foreign["account_id"] == decode_account_id(offline.foreign.key_id)
        assert foreign["account_id"] in foreign["remediation"][0]
        severities = [f["severity"] for f in report["findings"]]
        rank = ["critical", "high", "medium", "low", "info"]
        assert severities == sorted(severities, key=rank.index)

    def test_fail_on_root_fails_only_with_a_root_key(self, offline: Offline) -> None:
        """--fail-on root: 1 when root has a key (the unlisted one is probably it), else 0."""
        with_root = offline.write("with-root.csv", credential_report(offline.account, True))
        without = offline.write("without-root.csv", credential_report(offline.account, False))
        code, _ = scan_offline(offline, offline.listed(), with_root, extra=("--fail-on", "root"))
        assert code == 1
        code, report = scan_offline(offline, offline.listed(), without, extra=("--fail-on", "root"))
        assert code == 0
        assert status_of(report, offline.unlisted.key_id) == "deleted"

    def test_get_credential_report_json_without_root_key_makes_unlisted_key_deleted(
        self, offline: Offline
    ) -> None:
        """The base64 `get-credential-report` JSON is read; root has no key: the unlisted key
        is deleted (low), and nothing asks to rule out root."""
        text = credential_report_json(credential_report(offline.account, False, ("alice",)))
        code, report = scan_offline(offline, offline.listed(), offline.write("report.json", text))
        assert code == 1
        deleted = finding(report, offline.unlisted.key_id)
        assert (deleted["inventory"]["status"], deleted["severity"]) == ("deleted", "low")
        assert deleted["inventory"]["note"] is None

    def test_get_credential_report_json_with_root_key(self, offline: Offline) -> None:
        """The same JSON with root holding a key: probable root."""
        text = credential_report_json(credential_report(offline.account, True))
        _, report = scan_offline(offline, offline.listed(), offline.write("report.json", text))
        assert status_of(report, offline.unlisted.key_id) == "probable_root"

    def test_without_root_information_a_deleted_key_says_root_is_not_ruled_out(
        self, offline: Offline
    ) -> None:
        """Keys listed but nothing about root: deleted, with a note to add the report."""
        _, report = scan_offline(offline, offline.listed())
        facts = finding(report, offline.unlisted.key_id)["inventory"]
        assert facts["status"] == "deleted"
        assert "credential report or account summary" in facts["note"]

    @pytest.mark.parametrize(("present", "status"), [(1, "probable_root"), (0, "deleted")])
    def test_account_summary_named_by_its_account(
        self, offline: Offline, present: int, status: str
    ) -> None:
        """`ACCOUNT=summary.json`: AccountAccessKeysPresent decides probable root or deleted."""
        summary = offline.write("summary.json", account_summary(present))
        _, report = scan_offline(offline, offline.listed(), f"{offline.account}={summary}")
        assert status_of(report, offline.unlisted.key_id) == status
        assert status_of(report, offline.alice.key_id) == "active"

    def test_account_summary_of_the_only_account_needs_no_prefix(self, offline: Offline) -> None:
        """With a single account in the inventory, a bare summary is that account's."""
        summary = offline.write("summary.json", account_summary(1))
        _, report = scan_offline(offline, offline.listed(), summary)
        assert status_of(report, offline.unlisted.key_id) == "probable_root"

    def test_account_summary_with_several_accounts_must_be_named(self, offline: Offline) -> None:
        """Two accounts and a bare summary: exit 2, naming the file and the ACCOUNT= form."""
        listed = offline.write(
            "two-accounts.json",
            list_access_keys(
                ("alice", offline.alice.key_id, "Active"), ("zed", offline.foreign.key_id, "Active")
            ),
        )
        summary = offline.write("summary.json", account_summary(1))
        code, report, stderr = scan_with(
            offline.root / "found", "--inventory", listed, "--inventory", summary
        )
        assert code == 2
        assert report == {}
        assert summary in stderr
        assert "--inventory 123456789012=" in stderr

    def test_own_inventory_root_row_with_a_key_id_is_root(self, offline: Offline) -> None:
        """keyscan's CSV listing a key under <root_account>: status root, critical, first;
        --fail-on root fails."""
        rows = [
            "account_id,key_id,user,status,created,last_used",
            f"{offline.account},{offline.alice.key_id},alice,active,2024-03-01,",
            f"{offline.account},{offline.bob.key_id},bob,inactive,2024-03-01,",
            f"{offline.account},{offline.unlisted.key_id},<root_account>,active,2019-01-01,"
            "2026-10-01",
        ]
        own = offline.write("inventory.csv", "\n".join(rows) + "\n")
        code, report = scan_offline(offline, own, extra=("--fail-on", "root"))
        assert code == 1
        root = finding(report, offline.unlisted.key_id)
        assert (root["inventory"]["status"], root["severity"]) == ("root", "critical")
        assert order(report)[0] == offline.unlisted.key_id
        assert "Enable MFA on the root user." in root["inventory"]["remediation"]
        assert status_of(report, offline.alice.key_id) == "active"

    def test_own_inventory_root_row_without_key_id_means_probable_root(
        self, offline: Offline
    ) -> None:
        """A `<root_account>` JSON line with no key ID (IAM never tells root's key IDs)."""
        lines = [
            {"account_id": offline.account, "key_id": offline.alice.key_id, "user": "alice",
             "status": "active", "created": "", "last_used": ""},
            {"account_id": offline.account, "key_id": "", "user": "<root_account>",
             "status": "active", "created": "", "last_used": "2026-10-01"},
        ]  # fmt: skip
        own = offline.write("inventory.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
        _, report = scan_offline(offline, own)
        facts = finding(report, offline.unlisted.key_id)["inventory"]
        assert (facts["status"], facts["last_used"]) == ("probable_root", "2026-10-01")

    def test_several_inventories_cover_several_accounts(self, offline: Offline) -> None:
        """A second account's own CSV makes its key active instead of foreign."""
        other = decode_account_id(offline.foreign.key_id)
        own = offline.write(
            "other.csv",
            "account_id,key_id,user,status,created,last_used\n"
            f"{other},{offline.foreign.key_id},ci,Active,,\n",
        )
        _, report = scan_offline(offline, offline.listed(), own)
        facts = finding(report, offline.foreign.key_id)["inventory"]
        assert (facts["status"], facts["user"], facts["account_id"]) == ("active", "ci", other)
        assert status_of(report, offline.alice.key_id) == "active"

    def test_list_access_keys_documents_in_a_json_list(self, offline: Offline) -> None:
        """Several list-access-keys outputs gathered into one JSON list are read too."""
        documents = [
            {"AccessKeyMetadata": [{"UserName": "alice", "AccessKeyId": offline.alice.key_id,
                                    "Status": "Active", "CreateDate": "2024-03-01T09:00:00Z"}]},
            {"AccessKeyMetadata": [{"UserName": "bob", "AccessKeyId": offline.bob.key_id,
                                    "Status": "Inactive", "CreateDate": "2024-03-01T09:00:00Z"}]},
        ]  # fmt: skip
        listed = offline.write("keys-list.json", json.dumps(documents))
        _, report = scan_offline(offline, listed)
        assert status_of(report, offline.alice.key_id) == "active"
        assert status_of(report, offline.bob.key_id) == "inactive"
        assert finding(report, offline.bob.key_id)["inventory"]["created"] == (
            "2024-03-01T09:00:00Z"
        )

    def test_temporary_key_is_unknown_with_advice(self, offline: Offline, tmp_path: Path) -> None:
        """An ASIA key of an inventoried account is not in IAM: unknown, severity unchanged,
        and a note saying to check CloudTrail."""
        temporary = keys.key_id("ASIA", account=offline.account)
        folder = tmp_path / "temporary"
        folder.mkdir()
        (folder / "session.txt").write_text(f"key = {temporary}\n")
        without = scan_with(folder)[1]
        code, report, stderr = scan_with(folder, "--inventory", offline.listed())
        assert code == 1, stderr
        f = finding(report, temporary)
        assert f["inventory"]["status"] == "unknown"
        assert "temporary credentials" in f["inventory"]["note"]
        assert f["severity"] == finding(without, temporary)["severity"]

    def test_secrets_never_reach_the_report(self, offline: Offline) -> None:
        """Inventory facts add no secret to any report format."""
        report_csv = offline.write("cr.csv", credential_report(offline.account, True))
        for fmt in ("json", "text", "csv", "sarif"):
            result = run_cli(
                "scan",
                "-f",
                fmt,
                "--inventory",
                offline.listed(),
                "--inventory",
                report_csv,
                str(offline.root / "found"),
            )
            assert result.exit_code == 1, result.stderr
            assert_no_secret(result.stdout + result.stderr, *offline.secrets)


# --- bad inventories -----------------------------------------------------------------------------


def gitleaks_report(key_id: str) -> str:
    """A report by another tool (gitleaks' JSON), given by mistake."""
    return json.dumps([{
        "RuleID": "aws-access-token", "Description": "AWS access token", "StartLine": 3,
        "EndLine": 3, "StartColumn": 20, "EndColumn": 39, "Match": key_id, "Secret": key_id,
        "File": "deploy/settings.ini", "SymlinkFile": "", "Commit": "0" * 40, "Entropy": 3.9,
        "Author": "T", "Email": "t@example.com", "Date": "2026-01-01T00:00:00Z", "Message": "x",
        "Tags": [], "Fingerprint": "deploy/settings.ini:aws-access-token:3",
    }], indent=1)  # fmt: skip


BAD_INVENTORIES = {
    # name: (file name, content (given the account and a key ID) or None for no file, message)
    "truncated JSON": (
        "keys.json",
        lambda a, k: list_access_keys(("alice", k, "Active"))[:60],
        "invalid JSON at line",
    ),
    "wrong CSV header": (
        "keys.csv",
        lambda a, k: f"account,access_key,owner,state\n{a},{k},alice,active\n",
        "unrecognised header 'account,access_key,owner,state'",
    ),
    "another tool's report": (
        "gitleaks.json",
        lambda a, k: gitleaks_report(k),
        "is not an inventory record",
    ),
    "bad status in keyscan's CSV": (
        "keys.csv",
        lambda a, k: f"account_id,key_id,user,status,created,last_used\n{a},{k},alice,enabled,,\n",
        "line 2: status 'enabled' is not Active or Inactive",
    ),
    "bad status in list-access-keys": (
        "keys.json",
        lambda a, k: list_access_keys(("alice", k, "Disabled")),
        "status 'Disabled' is not Active or Inactive",
    ),
    "not a key ID": (
        "keys.csv",
        lambda a, k: f"account_id,key_id,user,status,created,last_used\n{a},{k[:12]},x,active,,\n",
        "is not an access key ID",
    ),
    "credential report cut short": (
        "report.csv",
        lambda a, k: credential_report(a, True)[:-40],
        "credential report line 2 has",
    ),
    "empty file": ("keys.json", lambda a, k: "\n", "is empty"),
    "missing file": ("nowhere.csv", None, "does not exist; check the path"),
}


class TestBadInventories:
    @pytest.mark.parametrize("case", list(BAD_INVENTORIES))
    def test_bad_inventory_is_an_error_naming_the_file(self, tmp_path: Path, case: str) -> None:
        """Exit 2 (never a finding's 1), no report, and a message naming the file and saying
        what it should have been."""
        name, content, message = BAD_INVENTORIES[case]
        path = tmp_path / name
        key_id = keys.key_id()
        if content is not None:
            path.write_text(content(decode_account_id(key_id) or "", key_id))
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "settings.ini").write_text(pair_text((key_id, keys.secret_key())))
        result = run_cli("scan", "-f", "json", "--inventory", str(path), str(tmp_path / "src"))
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith("keyscan: error: ")
        assert str(path) in result.stderr
        assert message in result.stderr
        if content is not None:
            assert EXPECTED in result.stderr
        assert "Traceback" not in result.stderr

    def test_a_folder_is_not_an_inventory(self, tmp_path: Path) -> None:
        result = run_cli("scan", "--inventory", str(tmp_path), str(tmp_path))
        assert result.exit_code == 2
        assert f"inventory {tmp_path} is a folder" in result.stderr


# --- unreachable AWS, and no network at all unless asked -----------------------------------------


class Listener:
    """A TCP socket on 127.0.0.1 that never answers; it counts connections when `accept`."""

    def __init__(self, accept: bool) -> None:
        self.socket = socket.socket()
        self.socket.bind((HOST, 0))
        self.socket.listen(64)
        self.url = f"http://{HOST}:{self.socket.getsockname()[1]}"
        self.connections = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True) if accept else None
        if self._thread:
            self.socket.settimeout(0.1)
            self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self.held.append(conn)

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        for conn in self.held:
            conn.close()
        self.socket.close()


@pytest.fixture
def silent() -> Iterator[Listener]:
    listener = Listener(accept=False)
    yield listener
    listener.close()


@pytest.fixture
def counting() -> Iterator[Listener]:
    listener = Listener(accept=True)
    yield listener
    listener.close()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "settings.ini").write_text(pair_text((keys.key_id(), keys.secret_key())))
    return folder


def timed(*args: str) -> tuple[Any, float]:
    """keyscan as a subprocess, killed (and the test failed) if it outlives BOUND * 2."""
    started = time.monotonic()
    proc = run_keyscan(*args, timeout=BOUND * 2)
    return proc, time.monotonic() - started


class TestUnreachableAws:
    def test_closed_port_fails_fast_with_exit_2(self, src: Path) -> None:
        """Nobody listens at the endpoint: exit 2 and what to check, in bounded time."""
        endpoint = f"http://{HOST}:{free_port()}"
        proc, seconds = timed(
            "scan",
            "--inventory",
            "aws",
            "--aws-endpoint-url",
            endpoint,
            "--aws-timeout",
            "0.5",
            str(src),
        )
        stderr = proc.stderr.decode()
        assert proc.returncode == 2, stderr
        assert seconds < BOUND
        assert f"cannot read the inventory from {endpoint}" in stderr
        assert "--aws-endpoint-url/--aws-timeout" in stderr
        assert proc.stdout == b""

    def test_endpoint_that_never_answers_times_out_with_exit_2(
        self, src: Path, silent: Listener
    ) -> None:
        """A socket that accepts nothing and says nothing: --aws-timeout bounds each attempt."""
        proc, seconds = timed(
            "scan",
            "--inventory",
            "aws",
            "--aws-endpoint-url",
            silent.url,
            "--aws-timeout",
            "0.5",
            str(src),
        )
        assert proc.returncode == 2, proc.stderr.decode()
        assert seconds < BOUND
        assert f"cannot read the inventory from {silent.url}" in proc.stderr.decode()

    def test_export_from_an_unreachable_endpoint_is_exit_2(self, tmp_path: Path) -> None:
        endpoint = f"http://{HOST}:{free_port()}"
        target = tmp_path / "keys.csv"
        proc, seconds = timed(
            "inventory",
            "export",
            "-o",
            str(target),
            "--aws-endpoint-url",
            endpoint,
            "--aws-timeout",
            "0.5",
        )
        assert proc.returncode == 2, proc.stderr.decode()
        assert seconds < BOUND
        assert not target.exists()

    def test_verify_against_an_endpoint_that_never_answers_is_an_error_not_a_hang(
        self, tmp_path: Path, silent: Listener
    ) -> None:
        """--verify that cannot reach STS marks the pair `error` (no secret in the reason)."""
        key_id, secret = keys.key_id(), keys.secret_key()
        (tmp_path / "settings.ini").write_text(pair_text((key_id, secret)))
        proc, seconds = timed(
            "scan",
            "-f",
            "json",
            "--verify",
            "--aws-endpoint-url",
            silent.url,
            "--aws-timeout",
            "0.5",
            str(tmp_path / "settings.ini"),
        )
        assert proc.returncode == 1, proc.stderr.decode()
        assert seconds < BOUND
        v = json.loads(proc.stdout)["findings"][0]["verification"]
        assert v["status"] == "error"
        assert v["reason"]
        assert_no_secret(proc.stdout.decode() + proc.stderr.decode(), secret)

    def test_no_network_call_without_live_inventory_or_verify(
        self, src: Path, counting: Listener, offline: Offline, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An endpoint and proxies given, an inventory file, no `aws` and no --verify: keyscan
        opens no connection (the listener counts none) and the scan succeeds."""
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(proxy, counting.url)
        proc, _ = timed(
            "scan",
            "-f",
            "json",
            "--inventory",
            offline.listed(),
            "--aws-endpoint-url",
            counting.url,
            "--aws-timeout",
            "0.5",
            str(offline.root / "found"),
        )
        assert proc.returncode == 1, proc.stderr.decode()
        report = json.loads(proc.stdout)
        assert status_of(report, offline.alice.key_id) == "active"
        proc, _ = timed("scan", "--aws-endpoint-url", counting.url, str(src))
        assert proc.returncode == 1, proc.stderr.decode()
        time.sleep(0.2)  # let the accept loop see any late connection
        assert counting.connections == 0
