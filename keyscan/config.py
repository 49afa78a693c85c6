"""Project settings: `.keyscan.toml`, or `[tool.keyscan]` in `pyproject.toml`, at the root of
the scanned repository (or folder).

A typo in a security tool's settings must not silently turn a check off, so unknown keys and
wrong types are errors, not warnings.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyscan.errors import KeyscanError
from keyscan.model import FAIL_ON
from keyscan.suppress import Baseline, Suppression, load_baseline

CONFIG_FILE = ".keyscan.toml"
BASELINE_FILE = ".keyscan-baseline.json"


class ConfigError(KeyscanError):
    """A settings file that cannot be used as written."""


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # the file it came from; None: no file, defaults
    exclude_paths: tuple[str, ...] = ()  # globs; findings only there are suppressed
    patterns: tuple[Path, ...] = ()  # extra rule files, resolved against the file's folder
    allow: frozenset[str] = frozenset()  # key IDs, secrets or fingerprints to suppress
    fail_on: str | None = None
    baseline: Path | None = None  # where the baseline lives, if not at the root


_KEYS = {
    "exclude-paths": "a list of path globs",
    "patterns": "a list of rule files or folders",
    "allow": "a list of key IDs, secrets or finding fingerprints",
    "fail-on": f"one of {', '.join(FAIL_ON)}",
    "baseline": "a path to the baseline file",
}


def project_root(paths: tuple[str, ...] | list[str]) -> Path:
    """Where settings and the baseline are looked for: the nearest folder holding `.git`,
    from the first folder scanned (or the current folder when only files or stdin are)."""
    start = next((Path(p) for p in paths if p != "-" and os.path.isdir(p)), Path.cwd())
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def load_config(root: Path, explicit: Path | None = None, found: bool = True) -> Config:
    """The settings for a scan rooted at `root`: `explicit` if given, else (if `found`)
    `.keyscan.toml`, else `[tool.keyscan]` of `pyproject.toml`, else defaults."""
    if explicit is not None:
        if explicit.name == "pyproject.toml":
            return _from_pyproject(explicit, required=True)
        return _parse(_read(explicit), explicit)
    if not found:
        return Config()
    own = root / CONFIG_FILE
    if own.is_file():
        return _parse(_read(own), own)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        return _from_pyproject(pyproject, required=False)
    return Config()


def _from_pyproject(path: Path, required: bool) -> Config:
    table = _read(path).get("tool", {}).get("keyscan")
    if table is None:
        if required:
            raise ConfigError(f"{path} has no [tool.keyscan] table; add one or name another file")
        return Config()
    return _parse(table, path, prefix="tool.keyscan.")


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file") from None


def _parse(table: dict[str, Any], path: Path, prefix: str = "") -> Config:
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {prefix + unknown[0]!r} in {path}; known keys: {', '.join(_KEYS)}"
        )

    def strings(key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{prefix}{key} in {path} must be {_KEYS[key]}")
        return value

    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ConfigError(f"{prefix}fail-on in {path} must be {_KEYS['fail-on']}, not {fail_on!r}")
    baseline = table.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise ConfigError(f"{prefix}baseline in {path} must be {_KEYS['baseline']}")
    here = path.parent
    return Config(
        path=path,
        exclude_paths=tuple(strings("exclude-paths")),
        patterns=tuple(here / p for p in strings("patterns")),
        allow=frozenset(strings("allow")),
        fail_on=fail_on,
        baseline=here / baseline if baseline else None,
    )


@dataclass(frozen=True, slots=True)
class Project:
    """What a scan takes from where it runs: the root folder, its settings and its baseline."""

    root: Path
    config: Config
    baseline: Baseline | None
    baseline_path: Path  # where the baseline is, or would be written

    def suppression(self, enabled: bool = True) -> Suppression:
        fingerprints = self.baseline.fingerprints if self.baseline else frozenset()
        return Suppression(
            baseline=fingerprints,
            allow=self.config.allow,
            exclude_paths=self.config.exclude_paths,
            root=str(self.root),
            enabled=enabled,
        )


def open_project(
    root: Path, config: Path | None = None, baseline: Path | None = None, read: str = "scan",
    found: bool = True,
) -> Project:  # fmt: skip
    """Settings from `config` or found at `root`, and the baseline: `baseline`, else the
    settings' `baseline`, else `.keyscan-baseline.json` at `root`.

    `read`: "scan" loads the baseline (one named explicitly must exist; the default one only
    when present), "update" loads it when present, "never" does not read it at all.
    `found`: whether settings and a baseline found at `root` count (a repository one does not
    trust chooses neither its own settings nor what its baseline hides); named ones always do.
    """
    settings = load_config(root, config, found)
    named = baseline or settings.baseline
    path = named or root / BASELINE_FILE
    unread = read == "never" or (named is None and not found)
    if unread or (not path.exists() and (read == "update" or named is None)):
        return Project(root, settings, None, path)
    return Project(root, settings, load_baseline(path), path)
