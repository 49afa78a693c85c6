"""Rules are data: TOML files under `patterns/`, each rule with its own examples."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from keyscan.errors import RuleError
from keyscan.model import Kind

# Byte classes shared by every rule; rule files refer to them as {name}.
_FIELDS = {
    "id",
    "kind",
    "description",
    "prefilter",
    "pattern",
    "window",
    "entropy",
    "identifier",
    "examples",
    "negative_examples",
    "references",
}
_REQUIRED = ("id", "kind", "description", "prefilter", "pattern")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: Kind
    description: str
    # A cheap pattern (hyperscan syntax) that every full match contains; its hits decide
    # where the full pattern runs.
    prefilter: str
    # The full pattern (`regex` syntax, verbose), with named groups `key_id` and/or `secret`.
    pattern: str
    # A full match starts at most `window_before` bytes before a prefilter hit's end and ends at
    # most `window_after` bytes after it (lookarounds included). TOML: `window = N` for both
    # sides, or `window = [before, after]`.
    window_before: int = 256
    window_after: int = 256
    # Minimum Shannon entropy (bits per character) of the secret, or the key ID if no secret.
    entropy: float = 0.0
    identifier: bool = False
    examples: tuple[str, ...] = ()
    negative_examples: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    source: str = ""
    compiled: Any = field(default=None, compare=False, repr=False)


def default_patterns_dir() -> Path:
    """The rules shipped with keyscan: inside the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "patterns", here.parent / "patterns"):
        if candidate.is_dir():
            return candidate
    raise RuleError(
        "keyscan's built-in rules are missing (no patterns/ folder next to the package); "
        "reinstall keyscan with `pip install --force-reinstall keyscan`."
    )


def _rule_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("*.toml"))
    if path.is_file():
        return [path]
    raise RuleError(f"rule file not found: {path}. Pass an existing .toml file or folder.")


def _parse_rule(raw: dict[str, Any], source: str) -> Rule:
    where = f"{source}: rule {raw.get('id', '?')!r}"
    unknown = set(raw) - _FIELDS
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    for name in _REQUIRED:
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise RuleError(f"{where}: field {name!r} is required and must be a non-empty string")
    try:
        kind = Kind(raw["kind"])
    except ValueError:
        kinds = ", ".join(k.value for k in Kind)
        raise RuleError(f"{where}: kind {raw['kind']!r} is not one of: {kinds}") from None
    try:
        compiled = regex.compile(raw["pattern"].encode(), regex.VERBOSE)
    except (regex.error, UnicodeEncodeError) as exc:
        raise RuleError(f"{where}: pattern does not compile: {exc}") from None
    window = raw.get("window", 256)
    if isinstance(window, int) and window > 0:
        before = after = window
    elif (
        isinstance(window, list)
        and len(window) == 2
        and all(isinstance(w, int) and w > 0 for w in window)
    ):
        before, after = window
    else:
        raise RuleError(f"{where}: window must be a positive integer or [before, after]")
    groups = set(compiled.groupindex)
    if not groups & {"key_id", "secret"}:
        raise RuleError(f"{where}: pattern needs a named group `key_id` or `secret`")
    try:
        return Rule(
            id=raw["id"],
            kind=kind,
            description=raw["description"],
            prefilter=raw["prefilter"],
            pattern=raw["pattern"],
            window_before=before,
            window_after=after,
            entropy=float(raw.get("entropy", 0.0)),
            identifier=bool(raw.get("identifier", False)),
            examples=tuple(raw.get("examples", ())),
            negative_examples=tuple(raw.get("negative_examples", ())),
            references=tuple(raw.get("references", ())),
            source=source,
            compiled=compiled,
        )
    except (TypeError, ValueError) as exc:
        raise RuleError(f"{where}: {exc}") from None


def load_rule_file(path: Path) -> list[Rule]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleError(f"cannot read rule file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RuleError(f"rule file {path} is not valid TOML: {exc}") from None
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"rule file {path} has no [[rules]] tables; see the README's rule format")
    return [_parse_rule(raw, str(path)) for raw in raw_rules]


def load_rules(extra: Sequence[Path] = (), *, builtin: bool = True) -> list[Rule]:
    """Built-in rules plus any user rule files or folders; rule ids must be unique."""
    paths: list[Path] = []
    if builtin:
        paths.extend(_rule_files(default_patterns_dir()))
    for item in extra:
        paths.extend(_rule_files(Path(item)))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in paths:
        for rule in load_rule_file(path):
            if rule.id in seen:
                raise RuleError(
                    f"rule id {rule.id!r} in {rule.source} is already defined in {seen[rule.id]}; "
                    "rule ids must be unique"
                )
            seen[rule.id] = rule.source
            rules.append(rule)
    return rules
