"""What run-orchestrator knows about a model beyond its name: size, price and limits.

The shapes live in the contracts (provider catalog events carry them); limits are the
provider's published quotas for one API key and hold for all orchestrator replicas together
(see execution's rate limiter).
"""

from __future__ import annotations

from promptworks_contracts.values import ModelLimits, ModelSpec

__all__ = ["ModelLimits", "ModelSpec"]
