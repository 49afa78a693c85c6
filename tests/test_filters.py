"""The cheap checks that decide whether a matched value is a credential."""

from __future__ import annotations

import math

import keys
import pytest

from keyscan import filters

DOC_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


class TestEntropy:
    """Shannon entropy in bits per character of a value's own distribution."""

    @pytest.mark.parametrize(
        ("value", "bits"),
        [
            ("", 0.0),
            ("a", 0.0),
            ("aaaa", 0.0),
            ("abab", 1.0),
            ("aabb", 1.0),
            ("abcd", 2.0),
            ("0123456789abcdef", 4.0),
            ("".join(chr(c) for c in range(64, 128)), 6.0),
            ("aaab", -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))),
        ],
        ids=[
            "empty",
            "one",
            "same",
            "two-alternating",
            "two-grouped",
            "four",
            "sixteen",
            "sixty-four",
            "skewed",
        ],
    )
    def test_value(self, value: str, bits: float) -> None:
        """The entropy of the value is exactly the expected number of bits."""
        assert filters.shannon_entropy(value) == pytest.approx(bits)

    def test_order_does_not_matter(self) -> None:
        """Entropy depends on character counts only, not on their order."""
        s = keys.secret_key()
        assert filters.shannon_entropy(s) == pytest.approx(filters.shannon_entropy(s[::-1]))

    def test_generated_secret_is_high(self) -> None:
        """A random 40-character secret is well above the secret rule's 3.8-bit floor."""
        assert filters.shannon_entropy(keys.secret_key()) > 4.0


class TestHexHash:
    """40 hex digits in one case is a SHA-1, not a secret."""

    @pytest.mark.parametrize("value", [SHA1, SHA1.upper(), "0" * 40, "1234567890" * 4])
    def test_hex(self, value: str) -> None:
        """Lower-case, upper-case and digits-only hex strings are hashes."""
        assert filters.is_hex_hash(value)

    def test_mixed_case_hex_is_not_a_hash(self) -> None:
        """Hex with both cases is not how tools print a SHA-1."""
        assert not filters.is_hex_hash(SHA1[:20] + SHA1[20:].upper())

    def test_secret_is_not_a_hash(self) -> None:
        """A generated secret (base64 alphabet) is not a hash."""
        assert not filters.is_hex_hash(keys.secret_key())

    def test_non_hex_letter(self) -> None:
        """One letter beyond f makes it not a hash."""
        assert not filters.is_hex_hash(SHA1[:-1] + "g")


class TestPlaceholder:
    """Filled-in templates and obvious fakes are placeholders; random keys are not."""

    @pytest.mark.parametrize(
        "value",
        [
            "X" * 40,
            "AKIAXXXXXXXXXXXXXXXX",
            "YOUR_SECRET_ACCESS_KEY",
            "your-secret-access-key-here",
            "AKIAYOURACCESSKEYID2",
            "REPLACE_WITH_YOUR_KEY",
            "changeme",
            "PLACEHOLDER",
            "redacted",
            "dummy-secret",
            "AKIAAAAAAAAAAAAAAAAA",
            "AKIAABCDEFGHIJKLMNOP",
            "1234567890",
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN",
        ],
    )
    def test_placeholder(self, value: str) -> None:
        """The value is recognised as a placeholder."""
        assert filters.is_placeholder(value)

    def test_generated_values_are_not_placeholders(self) -> None:
        """Generated key IDs and secrets are not placeholders."""
        for _ in range(200):
            assert not filters.is_placeholder(keys.key_id())
            assert not filters.is_placeholder(keys.secret_key())

    def test_run_of_five_is_allowed(self) -> None:
        """Five identical characters in a row can occur by chance and are not a placeholder."""
        value = "AKIAQRS" + "ZZZZZ" + "TUV2W3X4"
        assert not filters.is_placeholder(value)

    def test_run_of_six_is_a_placeholder(self) -> None:
        """Six identical characters in a row make a placeholder."""
        assert filters.is_placeholder("AKIAQRS" + "ZZZZZZ" + "TUV2W3X")

    def test_words_ignored_in_long_tokens(self) -> None:
        """Past 64 characters a word like YOUR occurs by chance and does not make a placeholder."""
        token = keys.session_token(length=300)
        value = token[:100] + "YOUR" + token[100:]
        assert not filters.is_placeholder(value)
        assert filters.is_placeholder(value[:30] + "YOUR" + value[30:50])


class TestExample:
    """AWS documentation values are recognised by their EXAMPLE marker."""

    @pytest.mark.parametrize(
        "value",
        [DOC_KEY_ID, DOC_SECRET, "ASIAIOSFODNN7EXAMPLE", "AIDAIOSFODNN7EXAMPLE"],
    )
    def test_example(self, value: str) -> None:
        """Documentation values are examples."""
        assert filters.is_example(value)

    def test_generated_values_are_not_examples(self) -> None:
        """Generated credentials are not examples."""
        assert not filters.is_example(keys.key_id())
        assert not filters.is_example(keys.secret_key())
        assert not filters.is_example(keys.session_token())
