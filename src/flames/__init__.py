"""flames-eval: run, score and report the FLAMES Chinese value-alignment benchmark."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed package metadata on first use (importlib.metadata costs
    tens of milliseconds, which every command would otherwise pay at start-up)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("flames-eval")
    except PackageNotFoundError:  # running from a source tree without install
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
