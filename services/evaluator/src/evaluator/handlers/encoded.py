"""``ResultEvaluated`` encoded once, by orjson, from the fields the evaluator made, without
validating ~25 ``MetricValue`` models per result only to serialise them again (ADR 0022,
second addendum).

The event is a real ``ResultEvaluated`` (same type, topic, stream id; the event store
stores ``model_dump_json()``), built without validation: its JSON is made from fields that
are valid by construction (``metric_documents`` checks the bounds input could break and
validates otherwise, raising the model's error) and models that were validated when made
(reasons, output checks, judgements). Its other fields are validated from that JSON only
when something reads them (the in-memory write port's readers, tests), so whatever reads the
event sees exactly what a consumer decodes. Tests check that the JSON equals pydantic's
serialisation of the same event and validates against the committed JSON Schema.
"""

from __future__ import annotations

from typing import Any, Final, Self
from uuid import UUID

import orjson
from pydantic import BaseModel, PrivateAttr

from promptworks_contracts.events import ResultEvaluated

_FIELDS: Final = frozenset(ResultEvaluated.model_fields)
_IDS: Final = ("run_id", "result_id", "evaluation_id")
"""Kept as given (the stream id is read by the event store): the rest is made on demand."""


class EncodedResultEvaluated(ResultEvaluated):
    """A ``ResultEvaluated`` whose JSON was made once from its fields (``encode``)."""

    _encoded: str = PrivateAttr(default="")
    _metrics: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @classmethod
    def encode(
        cls,
        run_id: UUID,
        result_id: UUID,
        evaluation_id: UUID | None,
        document: dict[str, Any],
    ) -> EncodedResultEvaluated:
        """``document``: the event's other fields, in the model's order, as plain values or
        validated models (encoded with ``model_dump(mode="json")``)."""
        encoded = orjson.dumps(
            {"run_id": run_id, "result_id": result_id, "evaluation_id": evaluation_id, **document},
            default=_plain,
        ).decode()
        event = cls.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(
            event,
            "__dict__",
            {"run_id": run_id, "result_id": result_id, "evaluation_id": evaluation_id},
        )
        setattr_(event, "__pydantic_fields_set__", set(_FIELDS))
        setattr_(event, "__pydantic_extra__", None)
        setattr_(
            event, "__pydantic_private__", {"_encoded": encoded, "_metrics": document["metrics"]}
        )
        return event

    @property
    def encoded(self) -> str:
        """The event's JSON, as stored and published."""
        private: dict[str, Any] = self.__pydantic_private__  # type: ignore[assignment]
        return private["_encoded"]  # type: ignore[no-any-return]  # not via __getattr__

    @property
    def metric_documents(self) -> list[dict[str, Any]]:
        """The metrics' fields it was encoded from (``metrics.metric_documents``)."""
        private: dict[str, Any] = self.__pydantic_private__  # type: ignore[assignment]
        return private["_metrics"]  # type: ignore[no-any-return]

    def decoded(self) -> ResultEvaluated:
        """The plain event, as a consumer decodes it (validated from the JSON)."""
        return ResultEvaluated.model_validate_json(self.encoded)

    def _complete(self) -> None:
        if len(self.__dict__) == len(_IDS):
            self.__dict__.update(self.decoded().__dict__)

    def __getattr__(self, name: str) -> Any:
        if name in ResultEvaluated.model_fields and len(self.__dict__) == len(_IDS):
            self._complete()
            return self.__dict__[name]
        return super().__getattr__(name)  # type: ignore[misc]

    def model_dump_json(self, **options: Any) -> str:
        if not options:
            return self.encoded  # what the event store stores and publishes
        self._complete()
        return super().model_dump_json(**options)

    def model_dump(self, **options: Any) -> dict[str, Any]:
        self._complete()
        return super().model_dump(**options)

    def model_copy(self, **options: Any) -> Any:
        # A plain event: an update must not keep the JSON made before it.
        return self.decoded().model_copy(**options)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedResultEvaluated):
            other = other.decoded()
        return self.decoded() == other

    def __hash__(self) -> int:
        return hash(self.decoded())

    def __iter__(self) -> Any:
        self._complete()
        return super().__iter__()

    def __repr_args__(self) -> Any:
        self._complete()
        return super().__repr_args__()

    def __copy__(self) -> Self:
        self._complete()
        return super().__copy__()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        self._complete()
        return super().__deepcopy__(memo)

    def __reduce__(self) -> Any:
        return (ResultEvaluated.model_validate_json, (self.encoded,))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON: {type(value).__name__}")
