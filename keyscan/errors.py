"""Errors raised by the library; the CLI turns them into exit code 2."""


class KeyscanError(Exception):
    """Base class: an operational error with a message that says what to do next."""


class RuleError(KeyscanError):
    """A rule file is missing, malformed, or a pattern does not compile."""


class SourceError(KeyscanError):
    """A path to scan cannot be used at all (missing, not a file or folder)."""
