"""`keyscan rules check`: each rule's examples go through the whole matcher, filters included."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keyscan.findings import FindingOptions, collect_sightings
from keyscan.matcher import Matcher
from keyscan.model import Blob, Provenance
from keyscan.rules import Rule

# Examples are documentation values, which a normal scan drops: the check keeps them.
_OPTIONS = FindingOptions(include_identifiers=True, include_examples=True)


@dataclass(frozen=True, slots=True)
class RuleProblem:
    rule_id: str
    message: str


def _found_by(rule: Rule, text: str, matcher: Matcher, by_id: dict[str, Rule]) -> bool:
    blob = Blob(text.encode(), Provenance("example", rule.id))
    matches = [m for m in matcher.scan(blob.data) if m.rule_id == rule.id]
    return bool(collect_sightings(blob, matches, by_id, _OPTIONS))


def check_rules(rules: Sequence[Rule], engine: str = "auto") -> list[RuleProblem]:
    """Every example must be found by its rule; no negative example may be."""
    matcher = Matcher(rules, engine)
    by_id = {rule.id: rule for rule in rules}
    problems = []
    for rule in rules:
        if not rule.examples:
            problems.append(RuleProblem(rule.id, "has no examples"))
        for text in rule.examples:
            if not _found_by(rule, text, matcher, by_id):
                problems.append(RuleProblem(rule.id, f"example not found: {text!r}"))
        for text in rule.negative_examples:
            if _found_by(rule, text, matcher, by_id):
                problems.append(RuleProblem(rule.id, f"negative example found: {text!r}"))
    return problems
