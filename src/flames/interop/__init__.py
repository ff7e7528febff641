"""Results other tools wrote, imported into the store as runs: the official FLAMES format (JSONL, JSON, CSV,
xlsx), OpenCompass's FLAMES predictions (a file, or a whole work dir) and eval-anything's FLAMES details.

`results.import_results` tells them apart and imports; one module per tool. This package module itself
stays light: the command line names the sources at start-up.
"""

from __future__ import annotations

from typing import Literal

Source = Literal["auto", "official", "opencompass", "eval-anything"]
