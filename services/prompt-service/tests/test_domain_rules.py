"""Domain rules as unit tests: version content checks, the class and tag aggregates."""

from __future__ import annotations

import uuid

import pytest

from prompt_service.domain.commands import VersionContent
from prompt_service.domain.content import check_content
from prompt_service.domain.taxonomy import (
    CLASS,
    TAG,
    Term,
    create_term,
    delete_term,
    update_term,
)
from promptworks_contracts.events import (
    PromptClassDeleted,
    PromptClassUpdated,
    PromptTagDeleted,
    PromptTagUpdated,
)
from promptworks_contracts.values import ChatMessage, ChatTemplate, TextTemplate, VariableSpec
from promptworks_eventkit.errors import ConflictError, DomainError, NotFoundError

CLASS_ID = uuid.uuid4()


def content(text: str, *names: str) -> VersionContent:
    variables = [VariableSpec(name=n) for n in (names or ("name",))]
    return VersionContent(template=TextTemplate(text=text), variables=variables)


def rule_of(error: pytest.ExceptionInfo[DomainError]) -> tuple[str | None, str]:
    return error.value.field, error.value.rule


# --- content ------------------------------------------------------------------------------


def test_matching_variables_give_no_warning_and_literal_braces_are_fine() -> None:
    assert check_content(content('Hi {{ name }}, answer {"a": 1}')) == []


def test_undeclared_and_unused_variables_are_warnings_not_errors() -> None:
    warnings = check_content(content("{{ a }} {{ b }}", "b", "c"))
    assert [(w.field, w.type) for w in warnings] == [
        ("variables", "undeclared_variable"),
        ("variables", "unused_variable"),
    ]
    assert "'a'" in warnings[0].msg and "'c'" in warnings[1].msg


def test_template_syntax_error_names_the_field_and_the_line() -> None:
    with pytest.raises(DomainError) as error:
        check_content(content("line one\n{{ broken "))
    assert rule_of(error) == ("content", "template_syntax")
    assert "line 2" in error.value.message


def test_chat_template_error_names_the_message() -> None:
    chat = ChatTemplate(
        messages=[ChatMessage(role="system", content="ok"), ChatMessage(role="user", content="{%")]
    )
    with pytest.raises(DomainError) as error:
        check_content(VersionContent(template=chat))
    assert rule_of(error) == ("messages.1.content", "template_syntax")


def test_a_variable_declared_twice_is_refused() -> None:
    with pytest.raises(DomainError) as error:
        check_content(content("{{ name }}", "name", "name"))
    assert rule_of(error) == ("variables", "unique")


# --- classes and tags ---------------------------------------------------------------------------


def test_class_rename_describe_and_delete_rules() -> None:
    state = Term.from_events(CLASS, create_term(CLASS, CLASS_ID, "support", "", "ann"))
    assert update_term(state, "support", None, "ann") == []
    (renamed,) = update_term(state, "helpdesk", None, "bo")
    assert isinstance(renamed, PromptClassUpdated) and renamed.name == "helpdesk"
    with pytest.raises(ConflictError) as error:
        delete_term(state, 3, detach=False, actor="ann")
    assert rule_of(error) == ("class_id", "in_use") and "3 prompt(s)" in error.value.message
    (deleted,) = delete_term(state, 3, detach=True, actor="ann")
    assert isinstance(deleted, PromptClassDeleted)
    gone = state.evolve([deleted])
    with pytest.raises(NotFoundError):
        update_term(gone, "again", None, "ann")
    with pytest.raises(NotFoundError):
        delete_term(gone, 0, detach=False, actor="ann")


def test_tag_rename_recolour_and_delete_rules() -> None:
    tag_id = uuid.uuid4()
    state = Term.from_events(TAG, create_term(TAG, tag_id, "prod", "#112233", "ann"))
    assert update_term(state, None, "#112233", "ann") == []
    (recoloured,) = update_term(state, None, "#AABBCC", "ann")
    assert isinstance(recoloured, PromptTagUpdated) and recoloured.name == "prod"
    with pytest.raises(ConflictError) as error:
        delete_term(state, 1, detach=False, actor="ann")
    assert rule_of(error) == ("tag_id", "in_use")
    (deleted,) = delete_term(state, 0, detach=False, actor="ann")
    assert isinstance(deleted, PromptTagDeleted) and deleted.actor == "ann"
    assert state.evolve([deleted]).deleted
