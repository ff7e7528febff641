"""Size limits of the annotation server, in a module of their own so the CLI can show them as option
defaults without importing the web stack or the password hasher."""

from __future__ import annotations

MIB = 1 << 20
DEFAULT_MAX_BODY = 1 * MIB
"""Cap on every request body (`--max-upload`): the app's forms are far smaller (texts stop at 2,000 characters)."""
DEFAULT_MAX_IMPORT = 256 * MIB
"""The admin import's own upload limit (`--max-import`): a run of 100,000 long answers fits."""
