"""Where a result came from: tool version, git commit and a stable hash of a config."""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from flames import __version__


def tool_version() -> str:
    return __version__


@cache
def git_commit() -> str | None:
    """Commit of the flames-eval source tree when it is a git checkout (editable installs), else None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a config: equal configs hash equal whatever the key order."""
    canon = json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()
