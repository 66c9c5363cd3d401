"""kws: keyword-spotting reference pipeline."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("kws")      # pyproject.toml's [project] version
except PackageNotFoundError:           # a source tree that was never installed
    __version__ = "0+unknown"
