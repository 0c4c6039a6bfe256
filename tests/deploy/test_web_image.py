"""The web console's container (``deploy/docker/web.Dockerfile``, the compose ``web`` service):
what it copies exists and is not kept out of the build context, and its nginx forwards the API
unbuffered (server-sent events) and answers client routes with index.html. No Docker engine
is needed; the compose file's schema check is ``test_observability``."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "web.Dockerfile"
NGINX = REPO / "web" / "nginx.conf"


def test_the_web_image_copies_what_the_context_holds() -> None:
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


def test_nginx_serves_the_console_and_streams_the_api() -> None:
    conf = NGINX.read_text()
    api = conf[conf.index("location /api/") :]
    api = api[: api.index("}")]
    assert "proxy_pass http://query-api:8000;" in api
    assert "proxy_buffering off;" in api
    assert "try_files $uri /index.html;" in conf
    assert "immutable" in conf
    web = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["web"]
    assert web["build"]["dockerfile"] == "deploy/docker/web.Dockerfile"
    assert web["depends_on"]["query-api"]["condition"] == "service_healthy"
    assert "listen 8080;" in conf and web["ports"][0].endswith(":8080")
