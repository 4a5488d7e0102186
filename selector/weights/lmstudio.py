"""LM Studio's models folder.

LM Studio's home is the path in `~/.lmstudio-home-pointer` when that file exists, else
`~/.cache/lm-studio` when it exists (older releases), else `~/.lmstudio` (lmstudio-js,
packages/lms-common-server/src/findLMStudioHome.ts). Models are kept under `<home>/models` as
`publisher/model/file.gguf`, mirroring the Hugging Face repository they came from
(https://lmstudio.ai/docs/basics/import-model). A folder chosen in the app is recorded as
`downloadsFolder` in `<home>/settings.json` (not documented; read when present). LM Studio has
no environment override of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from selector.weights.model import ScanResult, Source
from selector.weights.models_dir import scan_dir


def lmstudio_home() -> Path:
    home = Path.home()
    pointer = home / ".lmstudio-home-pointer"
    try:
        text = pointer.read_text(encoding="utf-8").strip()
        if text:
            return Path(text).expanduser()
    except OSError:
        pass
    legacy = home / ".cache" / "lm-studio"
    return legacy if legacy.is_dir() else home / ".lmstudio"


def lmstudio_dirs() -> list[Path]:
    """The configured folder first, then every default one that exists, once each."""
    home = lmstudio_home()
    dirs: list[Path] = []
    try:
        settings = json.loads((home / "settings.json").read_text(encoding="utf-8"))
        folder = settings.get("downloadsFolder") if isinstance(settings, dict) else None
        if isinstance(folder, str) and folder:
            dirs.append(Path(folder).expanduser())
    except (OSError, ValueError):
        pass
    dirs += [home / "models", Path.home() / ".lmstudio" / "models"]
    dirs.append(Path.home() / ".cache" / "lm-studio" / "models")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def scan() -> ScanResult:
    result = ScanResult()
    for root in lmstudio_dirs():
        found = scan_dir(root, Source.LM_STUDIO, repo_depth=True)
        result.roots += found.roots
        result.candidates += found.candidates
        result.problems += found.problems
    return result
