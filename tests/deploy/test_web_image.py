"""The images (``deploy/docker/Dockerfile``: the services' image, and the web console's nginx
image as its ``web`` target, compose's ``web`` service): what they copy exists and is not kept
out of the build context, every workspace member is installed, and the console's nginx forwards
the API unbuffered (server-sent events) and answers client routes with index.html. No Docker
engine is needed; the compose file's schema check is ``test_observability``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
NGINX = REPO / "web" / "nginx.conf"


def test_the_images_copy_what_the_context_holds() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copies = re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), flags=re.M)
    assert copies
    for line in copies:
        *sources, _ = line.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert not any(source.rstrip("/").startswith(i.rstrip("/")) for i in ignored), source
    assert {"**/node_modules", "web/dist"} <= ignored  # local installs and builds stay out


def test_every_workspace_member_is_in_the_services_image() -> None:
    """``uv sync --frozen --all-packages`` refuses a workspace whose member is missing."""
    members = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    dockerfile = DOCKERFILE.read_text()
    for pattern in members["members"]:
        for member in sorted(REPO.glob(pattern)):
            path = member.relative_to(REPO).as_posix()
            assert f"COPY {path}/pyproject.toml {path}/" in dockerfile, path
    assert "WEB_DIST=/app/web/dist" in dockerfile  # query-api serves the console at /


def test_nginx_serves_the_console_and_streams_the_api() -> None:
    conf = NGINX.read_text()
    api = conf[conf.index("location /api/") :]
    api = api[: api.index("}")]
    assert "proxy_pass http://query-api:8000;" in api
    assert "proxy_buffering off;" in api
    assert "try_files $uri /index.html;" in conf
    assert "immutable" in conf
    web = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["web"]
    assert web["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert web["build"]["target"] == "web"
    assert web["depends_on"]["query-api"]["condition"] == "service_healthy"
    assert "listen 8080;" in conf and web["ports"][0].endswith(":8080")
