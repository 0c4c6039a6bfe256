"""Conditions the list filters share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement


def equal_where_given(*pairs: tuple[ColumnElement[Any], object]) -> list[ColumnElement[bool]]:
    """``column = value`` for each pair whose value is given (None: that filter is not set)."""
    return [column == value for column, value in pairs if value is not None]
