"""schoolnet agent: measures one school against the informatisation targets."""

__version__ = "0.1.0"
