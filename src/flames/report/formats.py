"""Output formats of the report commands, apart so that the command line can name them without importing
the report modules (and numpy, SQLAlchemy) at start-up."""

from __future__ import annotations

from typing import Literal

ReportFormat = Literal["table", "json", "csv", "markdown"]
LeaderboardFormat = Literal["table", "markdown", "csv", "json", "html"]
CompareFormat = Literal["table", "json", "markdown"]
