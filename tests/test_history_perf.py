"""Shortcuts the history scan takes for speed give the same matches as the plain way.

Built-in rules are confirmed only at the starts of their prefilter hits (keyscan/matcher.py);
a copy of the same rules loaded as a user's rule file is searched across whole windows, and
serves as the reference.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import keys
import pytest

from keyscan.matcher import Matcher
from keyscan.rules import default_patterns_dir, load_rules

ENGINES = ("hyperscan", "regex")
pytest.importorskip("hyperscan")


def _texts() -> list[bytes]:
    """Credentials in many syntaxes, glued to each other and to near-misses."""
    rng = random.Random(20261130)
    key, secret, token = keys.key_id(), keys.secret_key(), keys.session_token()
    snippets = [
        f"aws_access_key_id = {key}\naws_secret_access_key = {secret}\n",
        f'"SecretAccessKey": "{secret}", "SessionToken": "{token}"',
        f"AWS_SESSION_TOKEN={token}\nx-amz-security-token: {token[16:]}{token[16:]}",
        f"{key},{secret}\n{key}{key} A{key} {key[:-1]}",
        f"secret_secret_access_key: {secret} aws-secret aws_secretaccesskey={secret}",
        f"sessionsession_token={token} security_token security-token={token}",
        f"{keys.bedrock_long_term_key()} bedrock-api-key-{keys.bedrock_short_term_key()}",
        f"AIDA{key[4:]} AROA{key[4:]}{key}",
    ]
    rules = load_rules()
    snippets += [example for rule in rules for example in rule.examples]
    snippets += [example for rule in rules for example in rule.negative_examples]
    texts = [s.encode() for s in snippets]
    for _ in range(40):
        parts = rng.sample(snippets, 4)
        glue = rng.choice(["", " ", "\n", "=", "secret_key", "session_token=", "AKIA"])
        texts.append(glue.join(parts).encode())
    return texts


def _spans(matcher: Matcher, data: bytes) -> list[tuple[str, int, int, str | None, str | None]]:
    return [(m.rule_id, m.start, m.end, m.key_id, m.secret) for m in matcher.scan(data)]


class TestAnchoredConfirmation:
    @pytest.mark.parametrize("engine", ENGINES)
    def test_builtin_rules_match_as_if_searched(self, engine: str, tmp_path: Path) -> None:
        """Built-in rules tried at hit starts find exactly what a search of the window finds."""
        copies = tmp_path / "rules"
        shutil.copytree(default_patterns_dir(), copies)
        anchored = Matcher(load_rules(), engine)
        searched = Matcher(load_rules([copies], builtin=False), engine)
        assert any(anchored._anchored) and not any(searched._anchored)
        found = 0
        for data in _texts():
            expected = _spans(searched, data)
            assert _spans(anchored, data) == expected, data
            found += len(expected)
        assert found > 100

    @pytest.mark.parametrize("engine", ENGINES)
    def test_user_rule_is_searched_across_its_window(self, engine: str, tmp_path: Path) -> None:
        """A user's rule whose match starts before its prefilter is still found."""
        rule_file = tmp_path / "deploy.toml"
        rule_file.write_text(
            "[[rules]]\n"
            'id = "example.deploy-token"\n'
            'kind = "secret_access_key"\n'
            'description = "a token after its keyword"\n'
            "prefilter = 'deploytok_'\n"
            "pattern = 'token=(?P<secret>deploytok_[A-Za-z0-9]{32})'\n"
            "window = [16, 64]\n"
        )
        matcher = Matcher(load_rules([rule_file], builtin=False), engine)
        secret = "deploytok_" + keys.secret_key().replace("/", "a").replace("+", "b")[:32]
        assert [m.secret for m in matcher.scan(f"x token={secret} y".encode())] == [secret]
