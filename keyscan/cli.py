"""The command line: parse options, call the library, render, choose the exit code.

Exit codes: 0 nothing found, 1 findings, 2 usage or operational error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from keyscan import __version__
from keyscan.errors import KeyscanError
from keyscan.model import FAIL_ON
from keyscan.reports import FORMATS

if TYPE_CHECKING:  # imported where used: `keyscan --help` stays fast
    from keyscan.config import Project
    from keyscan.model import ScanResult
    from keyscan.rules import Rule
    from keyscan.scan import ScanOptions

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """An operational error: exit 2, so that it never looks like a finding (exit 1)."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"keyscan: error: {self.format_message()}", err=True)


def _fail(exc: Exception) -> NoReturn:
    raise CliError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyscan")
def main() -> None:
    """Find leaked AWS credentials and tell which ones matter.

    Exit codes: 0 nothing found, 1 findings, 2 error.
    """


patterns_option = click.option(
    "--patterns",
    "patterns",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra rule file or folder of .toml rule files (repeatable).",
)


def _options(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Apply several click options as one decorator (shared by commands that scan)."""

    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


max_locations_option = click.option(
    "--max-locations",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="List at most this many locations per finding (the rest are counted).",
)
# What every command that runs a scan accepts: which rules, which content, how to work.
scan_options = _options(
    patterns_option,
    click.option(
        "--include-identifiers",
        is_flag=True,
        help="Also report IAM unique IDs (AIDA…, AROA…): identifiers, not credentials.",
    ),
    click.option(
        "--include-examples",
        is_flag=True,
        help="Also report AWS documentation examples (AKIAIOSFODNN7EXAMPLE…) as info.",
    ),
    click.option("--no-history", is_flag=True, help="Git repositories: scan only the files."),
    click.option(
        "--no-worktree",
        is_flag=True,
        help="Git repositories: scan only the object database, not uncommitted files.",
    ),
    click.option("--since-commit", metavar="REV", help="Scan only commits after REV (REV..HEAD)."),
    click.option(
        "--range",
        "rev_range",
        metavar="A..B",
        help="Scan only the commits in A..B (as git log A..B).",
    ),
    click.option("--branch", metavar="REF", help="Scan only the history of REF."),
    click.option(
        "--recurse-submodules", is_flag=True, help="Also scan checked-out submodules' repositories."
    ),
    click.option(
        "--no-decode",
        is_flag=True,
        help="Do not look inside archives, compressed files and encodings (base64, URL...).",
    ),
    max_locations_option,
    click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=0),
        default=0,
        help="Worker processes for git history (default: one per core).",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Settings file (default: .keyscan.toml, or [tool.keyscan] in pyproject.toml, at "
        "the root of the first folder scanned).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Print no warnings and no progress."),
    click.option(
        "--engine",
        type=click.Choice(("auto", "hyperscan", "regex")),
        default="auto",
        hidden=True,
        help="Prefilter engine (for testing: both give the same findings).",
    ),
)
baseline_option = click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline file of accepted findings (default: .keyscan-baseline.json at the root, "
    "when present).",
)
fail_on_option = click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    help="What makes the exit code 1: any finding (default), a severity and above, an active "
    "or a root key (with --inventory or --verify), or none (report only).",
)
# How to reach IAM and STS: scan (--inventory aws, --verify), report, inventory export.
aws_options = _options(
    click.option("--aws-profile", metavar="NAME", help="AWS profile to read IAM with."),
    click.option(
        "--aws-endpoint-url",
        metavar="URL",
        help="IAM and STS endpoint (e.g. a local emulator), for live inventories and --verify.",
    ),
    click.option(
        "--aws-timeout",
        type=click.FloatRange(min=0.1),
        default=15.0,
        show_default=True,
        metavar="SECONDS",
        help="Connect and read timeout of each AWS call (each is retried a few times).",
    ),
)
inventory_options = _options(
    click.option(
        "--inventory",
        "inventory_sources",
        multiple=True,
        metavar="SOURCE",
        help="Key inventory to rate findings by (repeatable): `aws` (live IAM, read-only) or a "
        "file: keyscan's export, list-access-keys JSON, credential report, account summary "
        "(ACCOUNT=FILE names its account).",
    ),
    aws_options,
)
verify_options = _options(
    click.option(
        "--verify",
        is_flag=True,
        help="Ask STS GetCallerIdentity, signed with each found key pair, whether it works "
        "(sends requests to AWS; off by default).",
    ),
    click.option(
        "--verify-canaries",
        is_flag=True,
        help="With --verify, also check canary-token accounts' keys (alerts their owner).",
    ),
)
no_config_option = click.option(
    "--no-config",
    is_flag=True,
    help="Read no settings file and no baseline from the folder scanned (audit a repository "
    "you do not trust; --config and --baseline still apply).",
)
no_suppress_option = click.option(
    "--no-suppress",
    is_flag=True,
    help="Report findings the baseline, allow-list, keyscan:allow or excluded paths hold back.",
)


@dataclass(frozen=True, slots=True)
class _Scan:
    """A scan as the options describe it: what to scan, with which rules and suppression."""

    paths: tuple[str, ...]
    rules: Sequence[Rule]
    options: ScanOptions
    project: Project
    quiet: bool


def _prepare(
    paths: tuple[str, ...],
    baseline_path: Path | None = None,
    suppress: bool = True,
    read_baseline: str = "scan",
    found: bool = True,
    **opts: Any,
) -> _Scan:
    from keyscan.config import open_project, project_root
    from keyscan.findings import FindingOptions
    from keyscan.rules import load_rules
    from keyscan.scan import ScanOptions

    try:
        project = open_project(
            project_root(paths), opts["config_path"], baseline_path, read_baseline,
            found=found,
        )  # fmt: skip
        rules = load_rules((*opts["patterns"], *project.config.patterns))
    except KeyscanError as exc:
        _fail(exc)
    options = ScanOptions(
        findings=FindingOptions(
            include_identifiers=opts["include_identifiers"],
            include_examples=opts["include_examples"],
        ),
        engine=opts["engine"],
        history=not opts["no_history"],
        worktree=not opts["no_worktree"],
        revs=_revs(opts["since_commit"], opts["rev_range"], opts["branch"]),
        jobs=opts["jobs"],
        max_locations=opts["max_locations"],
        recurse_submodules=opts["recurse_submodules"],
        decode=not opts["no_decode"],
        suppression=project.suppression(enabled=suppress),
    )
    return _Scan(paths, rules, options, project, opts["quiet"])


def _run(scan: _Scan) -> ScanResult:
    from keyscan.scan import scan_paths

    try:
        result = scan_paths(
            scan.paths, scan.rules, scan.options, progress=_progress_printer(scan.quiet)
        )
    except KeyscanError as exc:
        _fail(exc)
    _warn(result, scan.quiet)
    return result


def _warn(result: ScanResult, quiet: bool) -> None:
    if quiet:
        return
    if sys.stderr.isatty():
        click.echo("\r\033[K", err=True, nl=False)
    for warning in result.warnings:
        click.echo(f"keyscan: warning: {warning}", err=True)


def _exit_code(result: ScanResult, fail_on: str | None) -> int:
    """1 when a counted finding reaches the `--fail-on` severity (default: any finding)."""
    from keyscan.model import Severity

    fail_on = fail_on or "any"
    if fail_on == "none":
        return EXIT_CLEAN
    if fail_on in ("active", "root"):
        from keyscan.enrich import is_active, is_root

        test = is_root if fail_on == "root" else is_active
        return EXIT_FINDINGS if any(test(f) for f in result.findings) else EXIT_CLEAN
    floor = Severity.INFO if fail_on == "any" else Severity.parse(fail_on)
    return EXIT_FINDINGS if any(f.severity >= floor for f in result.findings) else EXIT_CLEAN


# Where a report goes and in which format: `scan` and `report`.
report_options = _options(
    click.option(
        "-f",
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="text",
        show_default=True,
        help="Report format.",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write the report to this file instead of standard output.",
    ),
)


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@report_options
@click.option("--show-secrets", is_flag=True, help="Print secrets in full (redacted by default).")
@click.option(
    "--color/--no-color",
    default=None,
    help="Color the text report (default: when writing to a terminal).",
)
@fail_on_option
@baseline_option
@no_config_option
@no_suppress_option
@inventory_options
@verify_options
@scan_options
def scan(
    paths: tuple[str, ...],
    fmt: str,
    output: Path | None,
    show_secrets: bool,
    color: bool | None,
    fail_on: str | None,
    baseline_path: Path | None,
    no_config: bool,
    no_suppress: bool,
    inventory_sources: tuple[str, ...],
    aws_profile: str | None,
    aws_endpoint_url: str | None,
    aws_timeout: float,
    verify: bool,
    verify_canaries: bool,
    **opts: Any,
) -> None:
    """Scan files, folders (recursively) and - (standard input) for AWS credentials.

    \b
    A git repository (work tree, bare or mirror) is scanned whole: every object in its
    database, reachable or not, plus uncommitted and untracked files.

    \b
    Examples:
      keyscan scan .
      keyscan scan --since-commit origin/main .
      keyscan scan --format sarif --output keyscan.sarif src/
      git diff | keyscan scan -
    """
    from keyscan.inventory import AwsOptions

    job = _prepare(paths, baseline_path, suppress=not no_suppress, found=not no_config, **opts)
    fail_on = fail_on or job.project.config.fail_on
    if fail_on in ("active", "root") and not (inventory_sources or verify):
        raise click.UsageError(f"--fail-on {fail_on} needs --inventory or --verify")
    aws = AwsOptions(profile=aws_profile, endpoint_url=aws_endpoint_url, timeout=aws_timeout)
    inventory = _load_inventory(inventory_sources, aws)  # before the scan: fail fast
    result = _run(job)
    if verify or inventory is not None:
        from keyscan.enrich import enrich

        if verify:
            from keyscan.verify import verify as verify_pairs

            try:
                verify_pairs(result.findings, aws, canaries=verify_canaries)
            except KeyscanError as exc:
                _fail(exc)
        result.findings = enrich(result.findings, inventory)
    use_color = (output is None and sys.stdout.isatty()) if color is None else color
    _write_report(result, fmt, job.rules, output, show_secrets, use_color)
    sys.exit(_exit_code(result, fail_on))


def _load_inventory(sources: tuple[str, ...], aws: Any) -> Any:
    if not sources:
        return None
    from keyscan.inventory import load_inventory

    try:
        return load_inventory(sources, aws)
    except KeyscanError as exc:
        _fail(exc)


def _write_report(
    result: ScanResult,
    fmt: str,
    rules: Sequence[Rule],
    output: Path | None,
    show_secrets: bool,
    color: bool,
    err: bool = False,
) -> None:
    from keyscan.reports import ReportOptions, render

    report = render(
        result, fmt, rules, ReportOptions(show_secrets=show_secrets, color=color and fmt == "text")
    )
    if output is None:
        click.echo(report, nl=False, color=color, err=err)
        return
    try:
        output.write_text(report, encoding="utf-8")
    except OSError as exc:
        _fail(
            OSError(
                f"cannot write the report to {output}: {exc.strerror}; choose another --output path"
            )
        )


def _revs(since_commit: str | None, rev_range: str | None, branch: str | None) -> tuple[str, ...]:
    """Turn the range options into rev-list arguments."""
    if rev_range and (since_commit or branch):
        raise click.UsageError("--range cannot be combined with --since-commit or --branch")
    if rev_range:
        if ".." not in rev_range:
            raise click.UsageError(f"--range takes A..B, not {rev_range!r}")
        return (rev_range,)
    if since_commit:
        return (f"{since_commit}..{branch or 'HEAD'}",)
    if branch:
        return (branch,)
    return ()


def _progress_printer(quiet: bool) -> Any:
    """A progress line on a terminal's stderr, at most ten times a second; else nothing."""
    if quiet or not sys.stderr.isatty():
        return None
    import time

    def show(p: Any) -> None:
        elapsed = max(time.perf_counter() - p.started, 1e-6)
        rate = p.bytes / elapsed / 1e6
        line = (
            f"\r{p.objects:,}/{p.total_objects:,} objects · {p.bytes / 1e6:,.0f}/"
            f"{p.total_bytes / 1e6:,.0f} MB · {rate:,.0f} MB/s · {p.detections} detections"
        )
        click.echo(line, err=True, nl=False)

    return show


@main.group()
def rules() -> None:
    """List and check the detection rules."""


@rules.command("list")
@patterns_option
def rules_list(patterns: tuple[Path, ...]) -> None:
    """List every rule: id, kind and description."""
    from keyscan.rules import load_rules

    try:
        loaded = load_rules(patterns)
    except KeyscanError as exc:
        _fail(exc)
    width = max(len(rule.id) for rule in loaded)
    for rule in loaded:
        click.echo(f"{rule.id:<{width}}  {rule.kind.value:<17}  {rule.description}")


@rules.command("check")
@patterns_option
def rules_check(patterns: tuple[Path, ...]) -> None:
    """Check that every rule finds its examples and none of its negative examples."""
    from keyscan.rulecheck import check_rules
    from keyscan.rules import load_rules

    try:
        loaded = load_rules(patterns)
        problems = check_rules(loaded)
    except KeyscanError as exc:
        _fail(exc)
    for problem in problems:
        click.echo(f"FAIL {problem.rule_id}: {problem.message}")
    examples = sum(len(r.examples) + len(r.negative_examples) for r in loaded)
    click.echo(f"{len(loaded)} rules, {examples} examples, {len(problems)} problems")
    sys.exit(EXIT_FINDINGS if problems else EXIT_CLEAN)


@main.group()
def baseline() -> None:
    """Accept the current findings, so that only new ones count.

    \b
    The baseline (.keyscan-baseline.json at the repository root) holds fingerprints, never
    secrets; commit it. Scans and hooks use it when it is there.
    """


@baseline.command("create")
@click.argument("paths", nargs=-1, metavar="[PATH...]")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: .keyscan-baseline.json at the root).",
)
@click.option("--force", is_flag=True, help="Replace an existing baseline.")
@scan_options
def baseline_create(paths: tuple[str, ...], output: Path | None, force: bool, **opts: Any) -> None:
    """Scan PATH (default: .) and write its findings to a new baseline."""
    from keyscan.suppress import Baseline

    job = _prepare(paths or (".",), read_baseline="never", **opts)
    target = output or job.project.baseline_path
    if target.exists() and not force:
        _fail(
            KeyscanError(
                f"{target} exists; add new findings to it with `keyscan baseline update`, or "
                "replace it with --force"
            )
        )
    accepted = Baseline(target)
    added = _accept(accepted, job)
    click.echo(f"keyscan: baseline {target} written with {added} findings", err=True)


def _accept(accepted: Any, job: _Scan) -> int:
    """Run the scan, add its findings to the baseline and save it; how many were new."""
    added: int = accepted.add(_run(job).findings)
    try:
        accepted.save()
    except KeyscanError as exc:
        _fail(exc)
    return added


@baseline.command("update")
@click.argument("paths", nargs=-1, metavar="[PATH...]")
@baseline_option
@scan_options
def baseline_update(paths: tuple[str, ...], baseline_path: Path | None, **opts: Any) -> None:
    """Scan PATH (default: .) and add its new findings to the baseline.

    Creates the baseline if there is none yet.
    """
    from keyscan.suppress import Baseline

    job = _prepare(paths or (".",), baseline_path, read_baseline="update", **opts)
    accepted = job.project.baseline or Baseline(job.project.baseline_path)
    added = _accept(accepted, job)
    click.echo(
        f"keyscan: {added} new findings added to {accepted.path} ({len(accepted.entries)} in all)",
        err=True,
    )


@main.group()
def hook() -> None:
    """Git hooks that stop a credential before it leaves this machine."""


_kinds_options = _options(
    click.option("--pre-push", "pre_push", is_flag=True, help="The pre-push hook (default)."),
    click.option("--pre-commit", "pre_commit", is_flag=True, help="The pre-commit hook."),
)


def _kinds(pre_push: bool, pre_commit: bool) -> list[str]:
    kinds = [k for k, on in (("pre-push", pre_push), ("pre-commit", pre_commit)) if on]
    return kinds or ["pre-push"]


@hook.command("install")
@_kinds_options
def hook_install(pre_push: bool, pre_commit: bool) -> None:
    """Install keyscan's hooks in this repository (honours core.hooksPath).

    A hook already there is kept and still runs first; installing again is harmless.
    """
    from keyscan import hooks

    try:
        for line in hooks.install(hooks.find_repo(), _kinds(pre_push, pre_commit)):
            click.echo(line)
    except (KeyscanError, OSError) as exc:
        _fail(exc)


@hook.command("uninstall")
@_kinds_options
def hook_uninstall(pre_push: bool, pre_commit: bool) -> None:
    """Remove keyscan's hooks and put back the hooks that were there before."""
    from keyscan import hooks

    kinds = _kinds(pre_push, pre_commit) if pre_push or pre_commit else list(hooks.HOOKS)
    try:
        for line in hooks.uninstall(hooks.find_repo(), kinds):
            click.echo(line)
    except (KeyscanError, OSError) as exc:
        _fail(exc)


_hook_options = _options(
    click.option("-q", "--quiet", is_flag=True, help="Print no warnings."),
    click.option(
        "--engine", type=click.Choice(("auto", "hyperscan", "regex")), default="auto", hidden=True
    ),
)

_PUSH_ADVICE = """\
keyscan: push refused: the commits being pushed hold the AWS credentials above.
  Nothing has left this machine yet. What to do:
  - a real key: deactivate it in IAM, then remove it from every commit of this push (for
    example `git rebase -i`, or `git commit --amend` for the last commit) and push again;
  - a test or sample key: mark its line with a `keyscan:allow` comment, or accept it with
    `keyscan baseline update` and commit .keyscan-baseline.json;
  - last resort, if you are sure it is harmless: `git push --no-verify`.
"""
_COMMIT_ADVICE = """\
keyscan: commit refused: the staged changes hold the AWS credentials above.
  What to do:
  - a real key: remove it from the file and stage it again (`git add`), and load the key from
    the environment or a secrets manager instead;
  - a test or sample key: mark its line with a `keyscan:allow` comment, or accept it with
    `keyscan baseline update` and commit .keyscan-baseline.json;
  - last resort, if you are sure it is harmless: `git commit --no-verify`.
"""


def _hook_scan(repo: Any, engine: str, quiet: bool, revs: tuple[str, ...] = ()) -> _Scan:
    """A hook's scan: history only (`revs`), with the repository's own settings and baseline."""
    from keyscan.config import open_project
    from keyscan.rules import load_rules
    from keyscan.scan import ScanOptions

    project = open_project(Path(repo.work_tree or repo.git_dir))
    rules = load_rules(project.config.patterns)
    options = ScanOptions(
        engine=engine, revs=revs, worktree=False, suppression=project.suppression()
    )
    return _Scan((), rules, options, project, quiet)


def _hook_verdict(job: _Scan, result: ScanResult, advice: str) -> NoReturn:
    _warn(result, job.quiet)
    failing = _exit_code(result, job.project.config.fail_on)
    if result.findings or result.suppressed:
        _write_report(result, "text", job.rules, None, False, sys.stderr.isatty(), err=True)
    if failing:
        click.echo(advice, err=True, nl=False)
    sys.exit(failing)


@hook.command("pre-push")
@click.argument("remote", required=False)
@click.argument("url", required=False)
@_hook_options
def hook_pre_push(remote: str | None, url: str | None, quiet: bool, engine: str) -> None:
    """Scan what a push adds (git runs this, with the pushed refs on stdin).

    Also runs as the pre-commit framework's pre-push stage, from its PRE_COMMIT_* variables.
    """
    import os

    from keyscan import hooks
    from keyscan.scan import scan_repo

    try:
        repo = hooks.find_repo()
        text = "" if sys.stdin.isatty() else sys.stdin.read()
        refs = hooks.parse_push_lines(text)
        if not refs:  # the pre-commit framework gives no lines, but variables
            refs = hooks.framework_push(repo, os.environ)
            remote = remote or os.environ.get("PRE_COMMIT_REMOTE_NAME")
        revs = hooks.push_revs(repo, refs, remote, url)
        if not revs:
            sys.exit(EXIT_CLEAN)  # only deletions: nothing is sent
        job = _hook_scan(repo, engine, quiet, revs)
        result = scan_repo(repo, job.rules, job.options)
    except KeyscanError as exc:
        _fail(exc)
    _hook_verdict(job, result, _PUSH_ADVICE)


@hook.command("pre-commit")
@_hook_options
def hook_pre_commit(quiet: bool, engine: str) -> None:
    """Scan the staged changes, as the next commit holds them (git runs this)."""
    import os

    from keyscan import hooks
    from keyscan.scan import scan_blobs

    try:
        repo = hooks.find_repo()
        job = _hook_scan(repo, engine, quiet)
        warnings: list[str] = []
        blobs = hooks.staged_blobs(repo, os.environ.get("GIT_INDEX_FILE"), warnings.append)
        result = scan_blobs(blobs, job.rules, job.options, warnings)
    except KeyscanError as exc:
        _fail(exc)
    _hook_verdict(job, result, _COMMIT_ADVICE)


@main.group()
def inventory() -> None:
    """The organization's access keys, to rate findings by (see scan --inventory)."""


@inventory.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write (.csv for CSV, else JSON lines).",
)
@aws_options
def inventory_export(
    output: Path, aws_profile: str | None, aws_endpoint_url: str | None, aws_timeout: float
) -> None:
    """Read the inventory live from IAM and write it as keyscan's inventory file.

    Review it, diff it, and use it offline (--inventory FILE), e.g. in CI, which then needs
    no IAM credentials.
    """
    from keyscan.inventory import AwsOptions
    from keyscan.inventory.export import write_inventory
    from keyscan.inventory.live import fetch_inventory

    try:
        aws = AwsOptions(profile=aws_profile, endpoint_url=aws_endpoint_url, timeout=aws_timeout)
        live = fetch_inventory(aws)
        count = write_inventory(live, output)
    except KeyscanError as exc:
        _fail(exc)
    accounts = ", ".join(sorted(live.accounts))
    click.echo(f"keyscan: {count} access keys of account {accounts} written to {output}", err=True)


@main.group()
def org() -> None:
    """Scan every repository of an organization into one datastore."""


@org.command("scan")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("keyscan.db"),
    show_default=True,
    help="The SQLite datastore the results go to.",
)
@click.option(
    "--clone-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("keyscan-clones"),
    show_default=True,
    help="Where clone URLs are mirrored (and fetched again on the next run).",
)
@click.option("--resume", is_flag=True, help="Continue the interrupted run in the datastore.")
@click.option(
    "--dask-scheduler",
    metavar="ADDRESS",
    help="Scan on a Dask cluster (tcp://HOST:PORT) instead of this machine.",
)
@patterns_option
@click.option("--include-identifiers", is_flag=True, help="Also record IAM unique IDs.")
@click.option("--include-examples", is_flag=True, help="Also record documentation examples.")
@click.option("--no-worktree", is_flag=True, help="Only the object databases, not work trees.")
@click.option("--no-decode", is_flag=True, help="Do not look inside archives and encodings.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    help="Repositories scanned at once (default: one per core).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print no warnings and no progress.")
def org_scan(
    sources: tuple[str, ...],
    db_path: Path,
    clone_dir: Path,
    resume: bool,
    dask_scheduler: str | None,
    patterns: tuple[Path, ...],
    include_identifiers: bool,
    include_examples: bool,
    no_worktree: bool,
    no_decode: bool,
    jobs: int,
    quiet: bool,
) -> None:
    """Scan every repository that folders, lists or clone URLs name.

    \b
    SOURCE: a folder (searched recursively for work trees, bare and mirror repositories), a
    file listing paths or clone URLs (one per line), or a clone URL (mirrored in --clone-dir).

    \b
    One broken or unreachable repository is reported and skipped. Each repository is
    recorded as it finishes: kill the run, and --resume continues it.

    \b
    Examples:
      keyscan org scan ~/src/acme
      gh repo list acme --json sshUrl -q '.[].sshUrl' > repos.txt && keyscan org scan repos.txt
      keyscan report --db keyscan.db --format sarif -o acme.sarif
    """
    from keyscan.findings import FindingOptions
    from keyscan.org.run import scan_organization
    from keyscan.org.sources import discover
    from keyscan.org.store import Store
    from keyscan.rules import load_rules
    from keyscan.scan import ScanOptions
    from keyscan.suppress import Suppression

    warn = _warner(quiet)
    options = ScanOptions(
        findings=FindingOptions(include_identifiers, include_examples),
        worktree=not no_worktree,
        decode=not no_decode,
        # An organization scan audits: a repository's own keyscan:allow markers hold nothing
        # back (its findings are kept, each location marked as allowed).
        suppression=Suppression(enabled=False),
    )
    try:
        rules = load_rules(patterns)
        repos = discover(sources, warn)
        store = Store(db_path)
        try:
            summary = scan_organization(
                repos, rules, options, store, jobs=jobs, clone_dir=str(clone_dir.absolute()),
                resume=resume, dask_scheduler=dask_scheduler,
                progress=_org_progress(quiet), warn=warn,
            )  # fmt: skip
        finally:
            store.close()
    except KeyscanError as exc:
        _fail(exc)
    if sys.stderr.isatty() and not quiet:
        click.echo("\r\033[K", err=True, nl=False)
    skipped = f", {summary.skipped} done before the interruption" if summary.skipped else ""
    if summary.objects_skipped:
        skipped += f", {summary.objects_skipped:,} objects known clean not read again"
    click.echo(
        f"keyscan: {summary.scanned - summary.failed} repositories scanned, {summary.failed} "
        f"failed{skipped}, into {db_path}; see them with `keyscan report --db {db_path}`",
        err=True,
    )
    sys.exit(EXIT_ERROR if summary.failed and summary.failed == summary.scanned else EXIT_CLEAN)


def _warner(quiet: bool) -> Callable[[str], None]:
    def warn(message: str) -> None:
        if not quiet:
            if sys.stderr.isatty():
                click.echo("\r\033[K", err=True, nl=False)
            click.echo(f"keyscan: warning: {message}", err=True)

    return warn


def _org_progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None

    def show(p: Any) -> None:
        slowest = f" · slowest: {p.slowest} ({p.slowest_seconds:.0f} s)" if p.slowest else ""
        click.echo(
            f"\r\033[K{p.done}/{p.total} repositories · {p.bytes / 1e6:,.0f} MB · "
            f"{p.findings} findings · {p.failed} failed{slowest}",
            err=True,
            nl=False,
        )

    return show


@main.command("report")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("keyscan.db"),
    show_default=True,
    help="The datastore `keyscan org scan` wrote.",
)
@report_options
@fail_on_option
@inventory_options
@max_locations_option
def report(
    db_path: Path,
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    inventory_sources: tuple[str, ...],
    aws_profile: str | None,
    aws_endpoint_url: str | None,
    aws_timeout: float,
    max_locations: int,
) -> None:
    """Report an organization scan: one finding per credential, everywhere.

    Every repository, path and commit where each credential appears, from the datastore.

    The datastore holds no secrets (a hint of each: its first characters and length).
    """
    from keyscan.findings import sort_findings
    from keyscan.inventory import AwsOptions
    from keyscan.model import RepoStatus, ScanResult, ScanStats
    from keyscan.org.store import Store
    from keyscan.rules import load_rules
    from keyscan.scan import cap_locations

    if fail_on in ("active", "root") and not inventory_sources:
        raise click.UsageError(f"--fail-on {fail_on} needs --inventory")
    aws = AwsOptions(profile=aws_profile, endpoint_url=aws_endpoint_url, timeout=aws_timeout)
    inventory = _load_inventory(inventory_sources, aws)
    try:
        store = Store(db_path)
        try:
            findings = store.findings()
            repos = store.latest_repos()
        finally:
            store.close()
        rules = load_rules(())
    except KeyscanError as exc:
        _fail(exc)
    if inventory is not None:
        from keyscan.enrich import enrich

        findings = enrich(findings, inventory)
    result = ScanResult(
        findings=sort_findings(findings),
        stats=ScanStats(
            sum(r.blobs for r in repos), sum(r.bytes for r in repos), sum(r.seconds for r in repos)
        ),
        repositories=[RepoStatus(r.name, r.status, r.error, r.blobs, r.bytes) for r in repos],
    )
    cap_locations(result.findings, max_locations)
    _write_report(result, fmt, rules, output, False, output is None and sys.stdout.isatty())
    sys.exit(_exit_code(result, fail_on))
