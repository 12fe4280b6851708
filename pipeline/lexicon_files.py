"""Read language data files from ``lexicons/`` (cached: each file is parsed once per process)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from pipeline.paths import LEXICONS


@lru_cache(maxsize=None)
def load_yaml(name: str) -> Any:
    """Parse ``lexicons/<name>`` with the safe YAML loader."""
    with open(LEXICONS / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def load_lines(name: str) -> tuple[str, ...]:
    """Non-empty, non-comment lines of ``lexicons/<name>``, stripped."""
    with open(LEXICONS / name, encoding="utf-8") as fh:
        return tuple(s for line in fh if (s := line.strip()) and not s.startswith("#"))
