"""Each service's migrations form one chain: branches merged in parallel that both take the next
revision number leave two heads, and ``migrate`` (alembic upgrade head) refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

SERVICES = sorted(p.parent for p in Path(__file__).parents[2].glob("services/*/alembic.ini"))


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_one_head_and_revision_numbers_follow_their_file_names(service: Path) -> None:
    config = Config(str(service / "alembic.ini"))
    config.set_main_option("script_location", str(service / "alembic"))
    scripts = ScriptDirectory.from_config(config)
    assert len(scripts.get_heads()) == 1, f"{service.name}: heads {scripts.get_heads()}"
    for revision in scripts.walk_revisions():
        file_name = Path(str(revision.path)).name
        assert file_name.startswith(f"{revision.revision}_"), (service.name, file_name)
