"""The config-file machinery every schoolnet YAML file is read with.

`walker` reads the node tree and collects every problem with its line; `parsers` turn one
scalar into a value or say what is allowed; `secrets` read `*_file`/`*_env` references only
when needed; `problems` are what a loader raises, each printed as FILE:LINE: KEY: fix.
"""

from schoolnet_core.config.problems import ConfigError, ConfigProblem
from schoolnet_core.config.secrets import Secret, SecretRef, read_secret
from schoolnet_core.config.walker import Invalid, Section, Walk, load_yaml

__all__ = ["ConfigError", "ConfigProblem", "Invalid", "Secret", "SecretRef", "Section", "Walk",
           "load_yaml", "read_secret"]
