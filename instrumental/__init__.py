"""instrumental: small RL worlds in which agents learn instrumental behaviour."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("instrumental-gym")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
