"""flames-eval: run, score and report the FLAMES Chinese value-alignment benchmark."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flames-eval")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
