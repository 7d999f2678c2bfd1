"""Helpers shared by the fixture generators: paths, versions, deterministic JSON output."""

import hashlib
import json
import os
import platform
import sys
import unicodedata

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES_DIR = os.path.join(REPO_ROOT, "tests", "fixtures")

# The versions in tools/requirements.txt. A different install still runs, but says so loudly, because the
# references would then no longer match what is committed.
PINNED = {
    "torch": "2.15.0",
    "transformers": "5.23.0",
    "tokenizers": "0.23.3",
    "safetensors": "0.8.0",
    "python": "3.11.7",
}


def versions():
    """The versions of everything that can change a reference output."""
    import safetensors
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "unicodedata": unicodedata.unidata_version,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
    }


def warn_unpinned(pinned, got, consequence):
    """A warning on stderr for every version in got that differs from pinned (a local '+...' suffix aside)."""
    bad = [f"{k}: pinned {v}, installed {got[k]}" for k, v in pinned.items() if got[k].split("+")[0] != v]
    if bad:
        print(f"WARNING: versions differ from tools/requirements.txt; {consequence}:\n  " + "\n  ".join(bad),
              file=sys.stderr)


def check_versions():
    warn_unpinned(PINNED, versions(), "references will differ")


def write_json(path, obj):
    """UTF-8 JSON, raw non-ASCII (as tokenizer.json files are), stable key order given by the caller."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def rel(path):
    return os.path.relpath(path, REPO_ROOT)
