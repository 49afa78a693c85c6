"""The command line: parse options, call the library, render, choose the exit code.

Exit codes: 0 nothing found, 1 findings, 2 usage or operational error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from keyscan import __version__
from keyscan.reports import FORMATS

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


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


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file instead of standard output.",
)
@click.option("--show-secrets", is_flag=True, help="Print secrets in full (redacted by default).")
@patterns_option
@click.option(
    "--include-identifiers",
    is_flag=True,
    help="Also report IAM unique IDs (AIDA…, AROA…): identifiers, not credentials.",
)
@click.option(
    "--include-examples",
    is_flag=True,
    help="Also report AWS documentation examples (AKIAIOSFODNN7EXAMPLE…) as info.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Color the text report (default: when writing to a terminal).",
)
@click.option("--no-history", is_flag=True, help="Git repositories: scan only the files.")
@click.option(
    "--no-worktree",
    is_flag=True,
    help="Git repositories: scan only the object database, not uncommitted files.",
)
@click.option("--since-commit", metavar="REV", help="Scan only commits after REV (REV..HEAD).")
@click.option(
    "--range", "rev_range", metavar="A..B", help="Scan only the commits in A..B (as git log A..B)."
)
@click.option("--branch", metavar="REF", help="Scan only the history of REF.")
@click.option(
    "--recurse-submodules", is_flag=True, help="Also scan checked-out submodules' repositories."
)
@click.option(
    "--max-locations",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="List at most this many locations per finding (the rest are counted).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    help="Worker processes for git history (default: one per core).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print no warnings and no progress.")
@click.option(
    "--engine",
    type=click.Choice(("auto", "hyperscan", "regex")),
    default="auto",
    hidden=True,
    help="Prefilter engine (for testing: both give the same findings).",
)
def scan(
    paths: tuple[str, ...],
    fmt: str,
    output: Path | None,
    show_secrets: bool,
    patterns: tuple[Path, ...],
    include_identifiers: bool,
    include_examples: bool,
    color: bool | None,
    no_history: bool,
    no_worktree: bool,
    since_commit: str | None,
    rev_range: str | None,
    branch: str | None,
    recurse_submodules: bool,
    max_locations: int,
    jobs: int,
    quiet: bool,
    engine: str,
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
    from keyscan.errors import KeyscanError
    from keyscan.findings import FindingOptions
    from keyscan.reports import ReportOptions, render
    from keyscan.rules import load_rules
    from keyscan.scan import ScanOptions, scan_paths

    options = ScanOptions(
        findings=FindingOptions(
            include_identifiers=include_identifiers, include_examples=include_examples
        ),
        engine=engine,
        history=not no_history,
        worktree=not no_worktree,
        revs=_revs(since_commit, rev_range, branch),
        jobs=jobs,
        max_locations=max_locations,
        recurse_submodules=recurse_submodules,
    )
    try:
        rules = load_rules(patterns)
        result = scan_paths(paths, rules, options, progress=_progress_printer(quiet))
    except KeyscanError as exc:
        _fail(exc)
    if not quiet:
        if sys.stderr.isatty():
            click.echo("\r\033[K", err=True, nl=False)
        for warning in result.warnings:
            click.echo(f"keyscan: warning: {warning}", err=True)
    use_color = (output is None and sys.stdout.isatty()) if color is None else color
    report = render(
        result,
        fmt,
        rules,
        ReportOptions(show_secrets=show_secrets, color=use_color and fmt == "text"),
    )
    if output is None:
        click.echo(report, nl=False, color=use_color)
    else:
        try:
            output.write_text(report, encoding="utf-8")
        except OSError as exc:
            _fail(
                OSError(
                    f"cannot write the report to {output}: {exc.strerror}; "
                    "choose another --output path"
                )
            )
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_CLEAN)


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
    from keyscan.errors import KeyscanError
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
    from keyscan.errors import KeyscanError
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
