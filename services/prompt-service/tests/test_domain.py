"""The prompt aggregate as unit tests: its fold and its decisions, no database, no broker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from prompt_service.domain import pointers
from prompt_service.domain import prompt_decisions as decide
from prompt_service.domain.commands import CreatePrompt, VersionContent, VersionSelector
from prompt_service.domain.prompt import Prompt
from prompt_service.domain.prompt_decisions import MetadataPatch
from promptworks_contracts.events import (
    PromptArchived,
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptRestored,
    PromptVersionCreated,
)
from promptworks_contracts.values import TextTemplate, VariableSpec
from promptworks_eventkit.errors import ConflictError, DomainError, NotFoundError

CLASS = uuid.uuid4()
TAG_A, TAG_B = sorted((uuid.uuid4(), uuid.uuid4()), key=str)


def content(text: str = "Hello {{ name }}", *names: str, **fields: Any) -> VersionContent:
    variables = [VariableSpec(name=n) for n in (names or ("name",))]
    return VersionContent(template=TextTemplate(text=text), variables=variables, **fields)


def new_prompt(versions: int = 1, **fields: Any) -> Prompt:
    """A prompt created by ``create_prompt`` with ``versions`` versions (state after the fold)."""
    command = CreatePrompt(
        actor="ann", name="greet", first_version=content(), **{"author": "ann", **fields}
    )
    events = decide.create_prompt(uuid.uuid4(), command, CLASS, (TAG_B, TAG_A, TAG_B)).events
    prompt = Prompt.from_events(events)
    for n in range(2, versions + 1):
        prompt = prompt.evolve(
            decide.add_version(prompt, content(f"v{n} {{{{ name }}}}"), "bo").events
        )
    return prompt


def archived(prompt: Prompt) -> Prompt:
    return prompt.evolve(decide.archive(prompt, "ann"))


def rule_of(error: pytest.ExceptionInfo[DomainError]) -> tuple[str | None, str]:
    return error.value.field, error.value.rule


# --- creating, folding, versions ---------------------------------------------------------------


def test_create_prompt_emits_created_then_version_one_with_actor_and_sorted_tags() -> None:
    command = CreatePrompt(actor="ann", name="greet", first_version=content("{{ x }}"))
    decision = decide.create_prompt(uuid.uuid4(), command, CLASS, (TAG_B, TAG_A, TAG_B))
    created, version = decision.events
    assert isinstance(created, PromptCreated) and isinstance(version, PromptVersionCreated)
    assert created.class_id == CLASS and created.tag_ids == [TAG_A, TAG_B]
    assert version.number == 1 and version.prompt_id == created.prompt_id
    assert created.actor == version.actor == "ann"
    assert version.author == "ann", "a version's author defaults to the actor"
    assert [w.type for w in decision.warnings] == ["undeclared_variable", "unused_variable"]


def test_fold_tracks_versions_current_labels_and_stream_version() -> None:
    prompt = new_prompt(versions=3)
    assert (prompt.latest_version, prompt.current_version, prompt.version) == (3, 3, 4)
    moved = prompt.evolve(
        pointers.move_label(prompt, "production", VersionSelector(version_number=2), "a")
    )
    assert moved.labels == {"production": 2} and prompt.labels == {}, "evolve copies"
    rolled = moved.evolve(
        pointers.set_current_version(moved, VersionSelector(version_number=1), "a")
    )
    assert rolled.current_version == 1 and rolled.version == 6


def test_new_version_number_follows_the_highest_even_after_a_rollback() -> None:
    prompt = new_prompt(versions=2)
    prompt = prompt.evolve(
        pointers.set_current_version(prompt, VersionSelector(version_number=1), "a")
    )
    (event,) = decide.add_version(prompt, content(), "carl").events
    assert isinstance(event, PromptVersionCreated) and event.number == 3 and event.actor == "carl"


def test_archived_prompt_refuses_versions_edits_labels_and_rollbacks() -> None:
    prompt = archived(new_prompt(versions=2))
    target = VersionSelector(version_number=1)
    for attempt in (
        lambda: decide.add_version(prompt, content(), "a"),
        lambda: decide.edit_metadata(prompt, MetadataPatch(name="x"), "a"),
        lambda: pointers.move_label(prompt, "production", target, "a"),
        lambda: pointers.set_current_version(prompt, target, "a"),
        lambda: decide.update_prompt(prompt, MetadataPatch(), None, None, "a"),
    ):
        with pytest.raises(ConflictError) as error:
            attempt()
        assert rule_of(error) == ("prompt_id", "archived")


# --- metadata --------------------------------------------------------------------------------


def test_edit_emits_full_state_and_the_changed_fields() -> None:
    prompt = new_prompt()
    patch = MetadataPatch(name="hello", set_class=True, class_id=None)
    (event,) = decide.edit_metadata(prompt, patch, "bo", "tidy")
    assert isinstance(event, PromptMetadataEdited)
    assert event.changed == ["name", "class_id"]
    assert (event.name, event.class_id, event.author, event.tag_ids) == (
        "hello",
        None,
        "ann",
        [TAG_A, TAG_B],
    )
    assert (event.actor, event.message) == ("bo", "tidy")


def test_edit_that_changes_nothing_emits_nothing() -> None:
    prompt = new_prompt()
    same = MetadataPatch(
        name="greet", author="ann", set_class=True, class_id=CLASS, tag_ids=(TAG_B, TAG_A)
    )
    assert decide.edit_metadata(prompt, same, "bo") == []
    assert decide.edit_metadata(prompt, MetadataPatch(), "bo") == []


def test_detach_moves_even_an_archived_prompt_out_of_a_class_or_tag() -> None:
    prompt = archived(new_prompt())
    (out,) = decide.detach(prompt, "admin", class_id=CLASS, message="class gone")
    assert (
        isinstance(out, PromptMetadataEdited)
        and out.class_id is None
        and out.changed == ["class_id"]
    )
    (untagged,) = decide.detach(prompt, "admin", tag_id=TAG_A)
    assert isinstance(untagged, PromptMetadataEdited) and untagged.tag_ids == [TAG_B]
    assert decide.detach(prompt, "admin", class_id=uuid.uuid4()) == []
    assert decide.detach(prompt, "admin", tag_id=uuid.uuid4()) == []


def test_update_combines_edit_new_version_and_rollback_in_order() -> None:
    prompt = new_prompt(versions=2)
    first = prompt.versions[0].version_id
    decision = decide.update_prompt(
        prompt, MetadataPatch(description="d"), content("new {{ name }}"), first, "ann", "m"
    )
    edited, version, current = decision.events
    assert isinstance(edited, PromptMetadataEdited) and edited.changed == ["description"]
    assert isinstance(version, PromptVersionCreated) and version.number == 3
    assert isinstance(current, PromptCurrentVersionSet)
    assert (current.version_number, current.previous_version_number) == (1, 3)


def test_update_with_an_unknown_version_to_activate_names_that_field() -> None:
    with pytest.raises(DomainError) as error:
        decide.update_prompt(new_prompt(), MetadataPatch(), None, uuid.uuid4(), "ann")
    assert rule_of(error) == ("activate_version_id", "not_found")


def test_archive_and_restore_refuse_to_repeat() -> None:
    prompt = new_prompt()
    (event,) = decide.archive(prompt, "ann", "old")
    assert isinstance(event, PromptArchived) and event.message == "old"
    with pytest.raises(ConflictError) as error:
        decide.archive(archived(prompt), "ann")
    assert rule_of(error) == ("prompt_id", "already_archived")
    with pytest.raises(ConflictError) as error:
        decide.restore(prompt, "ann")
    assert rule_of(error) == ("prompt_id", "not_archived")
    (restored,) = decide.restore(archived(prompt), "ann")
    assert isinstance(restored, PromptRestored)


# --- labels and the current version ------------------------------------------------------------


def test_move_label_records_where_it_was_and_ignores_a_no_op() -> None:
    prompt = new_prompt(versions=2)
    (first,) = pointers.move_label(
        prompt, "production", VersionSelector(version_number=1), "a", "go"
    )
    assert isinstance(first, PromptLabelMoved) and first.previous_version_number is None
    prompt = prompt.evolve([first])
    by_id = VersionSelector(version_id=prompt.versions[1].version_id)
    (second,) = pointers.move_label(prompt, "production", by_id, "a")
    assert isinstance(second, PromptLabelMoved)
    assert (second.version_number, second.previous_version_number) == (2, 1)
    assert pointers.move_label(prompt, "production", VersionSelector(version_number=1), "a") == []


@pytest.mark.parametrize(
    ("label", "rule"),
    [
        ("latest", "reserved"),
        ("Prod", "string_pattern_mismatch"),
        ("-x", "string_pattern_mismatch"),
        ("a" * 51, "string_pattern_mismatch"),
    ],
)
def test_invalid_or_reserved_labels_are_refused(label: str, rule: str) -> None:
    with pytest.raises(DomainError) as error:
        pointers.move_label(new_prompt(), label, VersionSelector(version_number=1), "a")
    assert rule_of(error) == ("label", rule)


@pytest.mark.parametrize(
    ("target", "field", "rule"),
    [
        (VersionSelector(version_number=9), "version_number", "not_found"),
        (VersionSelector(version_id=uuid.uuid4()), "version_id", "not_found"),
        (VersionSelector(), "version_number", "missing"),
        (VersionSelector(version_number=1, version_id=uuid.uuid4()), "version_id", "exclusive"),
    ],
)
def test_label_on_a_missing_version_names_the_field(
    target: VersionSelector, field: str, rule: str
) -> None:
    with pytest.raises(DomainError) as error:
        pointers.move_label(new_prompt(), "staging", target, "a")
    assert rule_of(error) == (field, rule)


def test_remove_label_needs_an_existing_label() -> None:
    prompt = new_prompt()
    prompt = prompt.evolve(
        pointers.move_label(prompt, "staging", VersionSelector(version_number=1), "a")
    )
    (removed,) = pointers.remove_label(prompt, "staging", "a")
    assert isinstance(removed, PromptLabelRemoved) and removed.previous_version_number == 1
    with pytest.raises(NotFoundError) as error:
        pointers.remove_label(prompt, "production", "a")
    assert rule_of(error) == ("label", "not_found")
    with pytest.raises(DomainError) as reserved:
        pointers.remove_label(prompt, "latest", "a")
    assert rule_of(reserved) == ("label", "reserved")


def test_rollback_to_the_current_version_is_no_event() -> None:
    prompt = new_prompt(versions=2)
    assert pointers.set_current_version(prompt, VersionSelector(version_number=2), "a") == []
    (event,) = pointers.set_current_version(prompt, VersionSelector(version_number=1), "a", "bad")
    assert isinstance(event, PromptCurrentVersionSet) and event.message == "bad"
