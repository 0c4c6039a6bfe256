from __future__ import annotations

from pydantic import SecretStr

from promptworks_eventkit.settings import ServiceSettings


class EvaluatorSettings(ServiceSettings):
    service_name: str = "evaluator"
    http_port: int = 8003
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/evaluator"
    )
