"""Where the API is and which key to send: flags, then the environment, then a config file.

``PROMPTWORKS_URL`` / ``--url`` (default http://127.0.0.1:8000), ``PROMPTWORKS_API_KEY`` /
``--api-key``, or a file holding the key (``PROMPTWORKS_API_KEY_FILE`` / ``--api-key-file``);
``promptworks configure`` saves them in ``$PROMPTWORKS_CONFIG`` (default
``~/.config/promptworks/config.yaml``, mode 0600). Without any key, ``.local/admin-key`` in the
working directory is used when present (``make dev`` writes it there). ``PROMPTWORKS_PROJECT``
/ ``--project`` names the project every call acts in (sent as ``X-Project``; default: the key's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_URL = "http://127.0.0.1:8000"
DEV_KEY_FILE = Path(".local/admin-key")


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str | None
    project: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"Config(url={self.url!r}, api_key={'set' if self.api_key else None})"


def config_path() -> Path:
    explicit = os.environ.get("PROMPTWORKS_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "promptworks" / "config.yaml"


def load_file() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


def resolve(
    url: str | None,
    api_key: str | None,
    api_key_file: Path | None,
    project: str | None = None,
) -> Config:
    saved = load_file()
    chosen_url = url or os.environ.get("PROMPTWORKS_URL") or saved.get("url") or DEFAULT_URL
    key = api_key or os.environ.get("PROMPTWORKS_API_KEY")
    if key is None:
        file = api_key_file or _path(os.environ.get("PROMPTWORKS_API_KEY_FILE"))
        file = file or _path(saved.get("api_key_file"))
        if file is not None:
            key = file.read_text().strip()
    key = key or saved.get("api_key")
    if key is None and DEV_KEY_FILE.is_file():
        key = DEV_KEY_FILE.read_text().strip()
    chosen_project = project or os.environ.get("PROMPTWORKS_PROJECT") or None
    return Config(url=str(chosen_url).rstrip("/"), api_key=key or None, project=chosen_project)


def save(url: str | None, api_key: str | None, api_key_file: Path | None) -> Path:
    path = config_path()
    data = load_file()
    if url is not None:
        data["url"] = url
    if api_key is not None:
        data["api_key"] = api_key
        data.pop("api_key_file", None)
    if api_key_file is not None:
        data["api_key_file"] = str(api_key_file.resolve())
        data.pop("api_key", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created private: the file may hold a key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(data, out, sort_keys=True)
    return path


def _path(value: object) -> Path | None:
    return Path(str(value)) if value else None
