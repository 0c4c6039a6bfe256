from __future__ import annotations

from pydantic import SecretStr

from promptworks_eventkit.settings import ServiceSettings


class PromptServiceSettings(ServiceSettings):
    service_name: str = "prompt-service"
    http_port: int = 8001
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/prompt_service"
    )
