"""Where templates, static files and shipped models are, installed or not.

A wheel carries them inside the package (pyproject's force-include); a source
checkout or an editable install has them at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder next to {_PACKAGE}")


TEMPLATES_DIR = _find("templates")
STATIC_DIR = _find("static")
MODELS_DIR = _find("models")
