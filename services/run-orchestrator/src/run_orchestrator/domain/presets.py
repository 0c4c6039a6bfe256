"""Connection presets for well-known providers: kind, base URL and common model names.

Prices change often and differ by account, so presets carry none: add ``pricing`` per model
(and the limits of your account tier) when registering. Self-hosted servers (vLLM, Ollama)
live on private addresses, which the operator must allow (ALLOW_PRIVATE_PROVIDER_URLS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Preset:
    kind: Literal["openai", "anthropic"]
    base_url: str
    models: tuple[str, ...]
    notes: str = ""
    credential_env: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "openai": Preset(
        "openai",
        "https://api.openai.com/v1",
        ("gpt-4o", "gpt-4o-mini", "gpt-4.1"),
        credential_env="OPENAI_API_KEY",
    ),
    "azure-openai": Preset(
        "openai",
        "https://YOUR-RESOURCE.openai.azure.com/openai/v1",
        ("your-deployment-name",),
        notes="Replace YOUR-RESOURCE; the model name is your deployment's name.",
        credential_env="AZURE_OPENAI_API_KEY",
    ),
    "anthropic": Preset(
        "anthropic",
        "https://api.anthropic.com",
        ("claude-sonnet-4-5", "claude-haiku-4-5"),
        credential_env="ANTHROPIC_API_KEY",
    ),
    "deepseek": Preset(
        "openai",
        "https://api.deepseek.com/v1",
        ("deepseek-chat", "deepseek-reasoner"),
        credential_env="DEEPSEEK_API_KEY",
    ),
    "dashscope": Preset(
        "openai",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        ("qwen-plus", "qwen-max", "qwen-turbo"),
        notes="Alibaba Cloud Model Studio (Qwen), OpenAI-compatible mode.",
        credential_env="DASHSCOPE_API_KEY",
    ),
    "moonshot": Preset(
        "openai",
        "https://api.moonshot.cn/v1",
        ("moonshot-v1-8k", "moonshot-v1-32k", "kimi-k2-0905-preview"),
        notes="Moonshot AI (Kimi).",
        credential_env="MOONSHOT_API_KEY",
    ),
    "zhipu": Preset(
        "openai",
        "https://open.bigmodel.cn/api/paas/v4",
        ("glm-4-plus", "glm-4-flash"),
        notes="Zhipu AI (GLM).",
        credential_env="ZHIPU_API_KEY",
    ),
    "siliconflow": Preset(
        "openai",
        "https://api.siliconflow.cn/v1",
        ("deepseek-ai/DeepSeek-V3", "Qwen/Qwen2.5-72B-Instruct"),
        credential_env="SILICONFLOW_API_KEY",
    ),
    "vllm": Preset(
        "openai",
        "http://vllm:8000/v1",
        ("your-served-model",),
        notes="Self-hosted vLLM (OpenAI-compatible server); a private address.",
    ),
    "ollama": Preset(
        "openai",
        "http://ollama:11434/v1",
        ("llama3.1", "qwen2.5"),
        notes="Self-hosted Ollama (OpenAI-compatible endpoint); a private address.",
    ),
}
