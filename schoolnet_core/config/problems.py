"""Problems in a config file, each at its file, line and key, with the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in the config file. `line` is 1-based; 0 means the file as a whole."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """All the problems found in one config file, one per line when printed."""

    def __init__(self, problems: Sequence[ConfigProblem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))



def file_error(file: str, line: int, message: str) -> ConfigError:
    """A problem with the file as a whole (cannot be read, not YAML, empty)."""
    return ConfigError([ConfigProblem(file, line, "(file)", message)])
