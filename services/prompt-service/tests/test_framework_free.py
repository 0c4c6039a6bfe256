"""The domain and the handlers import no framework, not even indirectly (through the shared
library or a module that imports SQLAlchemy): checked in a fresh interpreter, which imports
every module of both packages and then looks at everything that got loaded."""

from __future__ import annotations

import json
import subprocess
import sys

FRAMEWORKS = {"fastapi", "starlette", "sqlalchemy", "asyncpg", "aiokafka", "httpx"}

PROBE = """
import importlib, json, pkgutil, sys
import prompt_service.domain, prompt_service.handlers
for package in (prompt_service.domain, prompt_service.handlers):
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_domain_and_handlers_load_no_framework() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded = json.loads(probe.stdout)
    assert "prompt_service.handlers.taxonomy" in loaded, "the probe imported the handlers"
    assert sorted(m for m in loaded if m.split(".")[0] in FRAMEWORKS) == []
    assert "prompt_service.adapters" not in loaded and "prompt_service.api" not in loaded
