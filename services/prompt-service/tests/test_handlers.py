"""The command handlers on the in-memory write port and lookups: no PostgreSQL, no Kafka.

Every rule a handler applies (the domain's, the lookups', If-Match, one transaction per
command) is checked here in milliseconds. The same behaviour on real infrastructure is proved
by the API tests; the races only PostgreSQL can show stay in ``test_concurrency``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from prompt_service.adapters.memory import MemoryPromptRepos, PromptRow, TermRow
from prompt_service.domain.commands import (
    ArchivePrompt,
    ClassRef,
    CreatePrompt,
    CreateTerm,
    CreateVersion,
    DeleteTerm,
    EditPrompt,
    MoveLabel,
    RemoveLabel,
    RestorePrompt,
    SetCurrentVersion,
    TagRefs,
    UpdatePrompt,
    UpdateTerm,
    VersionContent,
    VersionSelector,
)
from prompt_service.domain.taxonomy import CLASS, TAG
from prompt_service.handlers.prompts import PromptHandlers, PromptWritten
from prompt_service.handlers.taxonomy import TaxonomyHandlers, TermWritten
from promptworks_contracts.events import (
    PromptClassCreated,
    PromptClassDeleted,
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptTagDeleted,
    PromptTagUpdated,
    PromptVersionCreated,
)
from promptworks_contracts.values import TextTemplate
from promptworks_eventkit.errors import (
    ConcurrencyConflictError,
    ConflictError,
    DomainError,
    NotFoundError,
)
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.writing.memory import InMemoryWritePort

CONTEXT = MessageContext(correlation_id="req-1")


@dataclass
class Service:
    port: InMemoryWritePort[MemoryPromptRepos]
    prompts: PromptHandlers
    classes: TaxonomyHandlers
    tags: TaxonomyHandlers

    @property
    def repos(self) -> MemoryPromptRepos:
        return self.port.repos

    def events(self, stream: UUID) -> list[Any]:
        return [stored.event for stored in self.port.stream(str(stream))]

    async def prompt(self, name: str = "greet", **fields: Any) -> PromptWritten:
        command = CreatePrompt(actor="ann", name=name, first_version=content(), **fields)
        return await self.prompts.create_prompt(command, CONTEXT)

    async def tag(self, name: str, color: str = "#112233") -> UUID:
        created = await self.tags.create(CreateTerm(name=name, extra=color), CONTEXT)
        assert created.state.term_id is not None
        return created.state.term_id

    async def refused(self, call: Any, error: type[Exception] = DomainError) -> Any:
        """``call`` fails with ``error`` and leaves nothing behind (no event, no lookup row)."""
        outbox, repos = self.port.outbox, copy.deepcopy(self.repos)
        with pytest.raises(error) as raised:
            await call
        assert self.port.outbox == outbox and self.repos == repos
        return raised.value


@pytest.fixture
def service() -> Service:
    port = InMemoryWritePort(MemoryPromptRepos(), source="/prompt-service")
    return Service(
        port, PromptHandlers(port), TaxonomyHandlers(port, CLASS), TaxonomyHandlers(port, TAG)
    )


def content(text: str = "Hello {{ name }}") -> VersionContent:
    return VersionContent(template=TextTemplate(text=text))


def field_rule(error: DomainError) -> tuple[str | None, str]:
    return error.field, error.rule


def by_name(version: int) -> VersionSelector:
    return VersionSelector(version_number=version)


# --- prompts ---------------------------------------------------------------------------------


async def test_create_prompt_creates_a_new_class_by_name_in_the_same_transaction(
    service: Service,
) -> None:
    tag = await service.tag("prod")
    written = await service.prompt(
        class_ref=ClassRef(class_name="support"), tags=TagRefs(names=("prod",))
    )
    prompt = written.prompt
    assert prompt.prompt_id is not None and prompt.class_id is not None
    assert prompt.tag_ids == (tag,) and written.new_version is not None
    assert [(p.stream_id, p.stream_version) for p in written.positions] == [
        (str(prompt.class_id), 1),
        (str(prompt.prompt_id), 2),
    ]
    (class_created,) = service.events(prompt.class_id)
    assert isinstance(class_created, PromptClassCreated) and class_created.name == "support"
    created, first = service.events(prompt.prompt_id)
    assert isinstance(created, PromptCreated) and isinstance(first, PromptVersionCreated)
    assert service.port.outbox[-1].envelope.correlationid == "req-1"
    assert service.repos.prompts[prompt.prompt_id] == PromptRow(prompt.class_id, "greet")
    assert service.repos.prompt_tags[prompt.prompt_id] == {tag}

    again = await service.prompt(name="other", class_ref=ClassRef(class_name="support"))
    assert again.prompt.class_id == prompt.class_id, "an existing class is found by name"
    assert len(again.positions) == 1


async def test_tags_must_exist_and_a_failed_create_leaves_nothing(service: Service) -> None:
    await service.tag("prod")
    create = service.prompt(
        class_ref=ClassRef(class_name="brand-new"), tags=TagRefs(names=("prod", "nope"))
    )
    error = await service.refused(create)
    assert field_rule(error) == ("tags.1", "not_found") and "POST /prompt-tags" in error.message
    assert service.repos.terms_by_lookup["classes"] == {}, "the class it created is gone too"
    unknown = service.prompt(tags=TagRefs(tag_ids=(uuid.uuid4(),)))
    assert field_rule(await service.refused(unknown)) == ("tag_ids.0", "not_found")
    no_class = service.prompt(class_ref=ClassRef(class_id=uuid.uuid4()))
    assert field_rule(await service.refused(no_class)) == ("class_id", "not_found")


async def test_new_version_labels_and_rollback(service: Service) -> None:
    prompt_id = (await service.prompt()).prompt.prompt_id
    assert prompt_id is not None
    v2 = await service.prompts.create_version(
        CreateVersion(actor="bo", prompt_id=prompt_id, content=content("v2 {{ x }}")), CONTEXT
    )
    assert v2.new_version is not None and v2.new_version.number == 2
    assert (v2.prompt.current_version, v2.prompt.version) == (2, 3)
    assert [w.type for w in v2.warnings] == ["undeclared_variable"]
    assert [(p.stream_id, p.stream_version) for p in v2.positions] == [(str(prompt_id), 3)]

    moved = await service.prompts.move_label(
        MoveLabel(prompt_id=prompt_id, label="production", target=by_name(1)), CONTEXT
    )
    assert moved.prompt.labels == {"production": 1}
    assert isinstance(service.events(prompt_id)[-1], PromptLabelMoved)
    same = await service.prompts.move_label(
        MoveLabel(prompt_id=prompt_id, label="production", target=by_name(1)), CONTEXT
    )
    assert same.positions == [] and same.prompt.version == 4, "no event, no position"
    missing = service.prompts.move_label(
        MoveLabel(prompt_id=prompt_id, label="production", target=by_name(9)), CONTEXT
    )
    assert field_rule(await service.refused(missing)) == ("version_number", "not_found")

    rolled = await service.prompts.set_current_version(
        SetCurrentVersion(prompt_id=prompt_id, target=by_name(1)), CONTEXT
    )
    assert rolled.prompt.current_version == 1
    assert isinstance(service.events(prompt_id)[-1], PromptCurrentVersionSet)

    removed = await service.prompts.remove_label(
        RemoveLabel(prompt_id=prompt_id, label="production"), CONTEXT
    )
    assert removed.prompt.labels == {}
    assert isinstance(service.events(prompt_id)[-1], PromptLabelRemoved)
    gone = service.prompts.remove_label(
        RemoveLabel(prompt_id=prompt_id, label="production"), CONTEXT
    )
    assert field_rule(await service.refused(gone, NotFoundError)) == ("label", "not_found")


async def test_update_prompt_edits_adds_a_version_and_rolls_back_in_one_append(
    service: Service,
) -> None:
    first = (await service.prompt()).prompt
    assert first.prompt_id is not None
    edit = EditPrompt(prompt_id=first.prompt_id, name="renamed", actor="bo")
    written = await service.prompts.update_prompt(
        UpdatePrompt(
            edit=edit, new_version=content(), activate_version_id=first.versions[0].version_id
        ),
        CONTEXT,
    )
    assert (written.prompt.name, written.prompt.latest_version) == ("renamed", 2)
    assert written.prompt.current_version == 1
    assert [(p.stream_id, p.stream_version) for p in written.positions] == [
        (str(first.prompt_id), 5)
    ]
    assert service.repos.prompts[first.prompt_id].name == "renamed"


async def test_a_name_is_unique_within_its_class_on_create_rename_and_move(
    service: Service,
) -> None:
    await service.prompt("a")
    other = (await service.prompt("b")).prompt.prompt_id
    assert other is not None
    clash = await service.refused(service.prompt("a"), ConflictError)
    assert field_rule(clash) == ("name", "unique") and "without a class" in clash.message
    rename = service.prompts.edit_prompt(EditPrompt(prompt_id=other, name="a"), CONTEXT)
    assert field_rule(await service.refused(rename, ConflictError)) == ("name", "unique")

    in_class = await service.prompt("a", class_ref=ClassRef(class_name="support"))
    assert in_class.prompt.class_id is not None, "the same name in another class is fine"
    move = service.prompts.edit_prompt(
        EditPrompt(prompt_id=other, name="a", class_ref=ClassRef(class_name="support")), CONTEXT
    )
    error = await service.refused(move, ConflictError)
    assert "in class 'support'" in error.message
    unknown = service.prompts.edit_prompt(EditPrompt(prompt_id=uuid.uuid4(), name="x"), CONTEXT)
    assert field_rule(await service.refused(unknown, NotFoundError)) == ("prompt_id", "not_found")


async def test_archived_prompts_refuse_writes_until_restored_and_keep_their_name(
    service: Service,
) -> None:
    prompt_id = (await service.prompt()).prompt.prompt_id
    assert prompt_id is not None
    archived = await service.prompts.archive(ArchivePrompt(prompt_id=prompt_id), CONTEXT)
    assert archived.prompt.archived
    twice = service.prompts.archive(ArchivePrompt(prompt_id=prompt_id), CONTEXT)
    assert field_rule(await service.refused(twice, ConflictError)) == (
        "prompt_id",
        "already_archived",
    )
    version = service.prompts.create_version(
        CreateVersion(prompt_id=prompt_id, content=content()), CONTEXT
    )
    assert field_rule(await service.refused(version, ConflictError)) == ("prompt_id", "archived")
    new_class = service.prompts.edit_prompt(
        EditPrompt(prompt_id=prompt_id, class_ref=ClassRef(class_name="fresh")), CONTEXT
    )
    await service.refused(new_class, ConflictError)
    assert service.repos.terms_by_lookup["classes"] == {}, "refused before creating a class"
    assert field_rule(await service.refused(service.prompt(), ConflictError)) == (
        "name",
        "unique",
    )
    restored = await service.prompts.restore(RestorePrompt(prompt_id=prompt_id), CONTEXT)
    assert not restored.prompt.archived


async def test_a_stale_if_match_is_a_concurrency_conflict(service: Service) -> None:
    prompt_id = (await service.prompt()).prompt.prompt_id
    assert prompt_id is not None
    stale = service.prompts.create_version(
        CreateVersion(prompt_id=prompt_id, content=content(), expected_version=1), CONTEXT
    )
    conflict = await service.refused(stale, ConcurrencyConflictError)
    assert (conflict.stream_id, conflict.expected, conflict.actual) == (str(prompt_id), 1, 2)
    current = await service.prompts.archive(
        ArchivePrompt(prompt_id=prompt_id, expected_version=2), CONTEXT
    )
    assert current.prompt.archived

    tag = await service.tag("prod")
    stale_tag = service.tags.update(UpdateTerm(term_id=tag, name="x", expected_version=0), CONTEXT)
    assert (await service.refused(stale_tag, ConcurrencyConflictError)).actual == 1


# --- classes and tags ------------------------------------------------------------------------


async def test_class_create_rename_and_delete(service: Service) -> None:
    created = await service.classes.create(CreateTerm(name="support", extra="d"), CONTEXT)
    class_id = created.state.term_id
    assert class_id is not None and created.state.version == 1
    assert [p.stream_id for p in created.positions] == [str(class_id)]
    taken = service.classes.create(CreateTerm(name="support"), CONTEXT)
    error = await service.refused(taken, ConflictError)
    assert field_rule(error) == ("name", "unique")
    assert error.message == "a class named 'support' already exists"

    other = await service.classes.create(CreateTerm(name="other"), CONTEXT)
    assert other.state.term_id is not None
    clash = service.classes.update(UpdateTerm(term_id=other.state.term_id, name="support"), CONTEXT)
    assert field_rule(await service.refused(clash, ConflictError)) == ("name", "unique")

    renamed = await service.classes.update(
        UpdateTerm(term_id=class_id, name="helpdesk", expected_version=1), CONTEXT
    )
    assert (renamed.state.name, renamed.state.extra, renamed.state.version) == ("helpdesk", "d", 2)
    assert service.repos.terms_by_lookup["classes"][class_id].name == "helpdesk"
    same = await service.classes.update(UpdateTerm(term_id=class_id, extra="d"), CONTEXT)
    assert same.positions == [] and same.state.version == 2

    deleted = await service.classes.delete(DeleteTerm(term_id=class_id), CONTEXT)
    assert deleted.state.deleted and deleted.detached == []
    assert isinstance(service.events(class_id)[-1], PromptClassDeleted)
    gone = service.classes.update(UpdateTerm(term_id=class_id, name="x"), CONTEXT)
    error = await service.refused(gone, NotFoundError)
    assert field_rule(error) == ("class_id", "not_found")
    assert error.message == f"class {class_id} does not exist"
    again = await service.classes.create(CreateTerm(name="helpdesk"), CONTEXT)
    assert again.state.term_id != class_id, "a deleted class frees its name"


async def test_class_in_use_is_refused_unless_detached_then_each_prompt_is_edited(
    service: Service,
) -> None:
    ids: list[UUID] = []
    for name in ("a", "b"):
        written = await service.prompt(name, class_ref=ClassRef(class_name="doomed"))
        assert written.prompt.prompt_id is not None
        ids.append(written.prompt.prompt_id)
    class_id = written.prompt.class_id
    assert class_id is not None
    await service.prompts.archive(ArchivePrompt(prompt_id=ids[1]), CONTEXT)
    in_use = service.classes.delete(DeleteTerm(term_id=class_id), CONTEXT)
    error = await service.refused(in_use, ConflictError)
    assert field_rule(error) == ("class_id", "in_use") and "2 prompt(s)" in error.message
    assert "leave them without a class" in error.message

    deleted = await service.classes.delete(
        DeleteTerm(term_id=class_id, detach=True, actor="admin"), CONTEXT
    )
    assert sorted(deleted.detached) == sorted(ids)
    streams = [p.stream_id for p in deleted.positions]
    assert sorted(streams[:2]) == sorted(map(str, ids)) and streams[2] == str(class_id)
    for prompt_id in ids:
        edited = service.events(prompt_id)[-1]
        assert isinstance(edited, PromptMetadataEdited)
        assert (edited.class_id, edited.changed, edited.actor) == (None, ["class_id"], "admin")
        assert edited.message == "class 'doomed' deleted"
    assert service.repos.terms_by_lookup["classes"] == {}
    assert {row.class_id for row in service.repos.prompts.values()} == {None}


async def test_detaching_a_class_whose_names_would_clash_writes_nothing(service: Service) -> None:
    await service.prompt("same")
    created = await service.prompt("same", class_ref=ClassRef(class_name="c"))
    assert created.prompt.class_id is not None
    delete = service.classes.delete(
        DeleteTerm(term_id=created.prompt.class_id, detach=True), CONTEXT
    )
    error = await service.refused(delete, ConflictError)
    assert field_rule(error) == ("detach", "unique") and "'same'" in error.message


async def test_tag_create_recolour_and_delete_with_and_without_detach(service: Service) -> None:
    keep, drop = await service.tag("keep"), await service.tag("drop")
    recoloured = await service.tags.update(UpdateTerm(term_id=keep, extra="#000000"), CONTEXT)
    (event,) = service.events(keep)[1:]
    assert isinstance(event, PromptTagUpdated) and (event.name, event.color) == ("keep", "#000000")
    assert recoloured.state.extra == "#000000"
    assert service.repos.terms_by_lookup["tags"][keep] == TermRow("keep", "#000000")
    bad = service.tags.create(CreateTerm(name="x", extra="red"), CONTEXT)
    assert (await service.refused(bad)).field == "color", "the tag event checks its colour"

    written = await service.prompt(tags=TagRefs(names=("keep", "drop")))
    prompt_id = written.prompt.prompt_id
    assert prompt_id is not None
    in_use = service.tags.delete(DeleteTerm(term_id=drop), CONTEXT)
    error = await service.refused(in_use, ConflictError)
    assert field_rule(error) == ("tag_id", "in_use") and "remove it everywhere" in error.message

    deleted = await service.tags.delete(DeleteTerm(term_id=drop, detach=True), CONTEXT)
    assert deleted.detached == [prompt_id]
    assert [p.stream_id for p in deleted.positions] == [str(prompt_id), str(drop)]
    edited = service.events(prompt_id)[-1]
    assert isinstance(edited, PromptMetadataEdited)
    assert (edited.tag_ids, edited.changed) == ([keep], ["tag_ids"])
    assert isinstance(service.events(drop)[-1], PromptTagDeleted)
    assert service.repos.prompt_tags[prompt_id] == {keep}
    assert drop not in service.repos.terms_by_lookup["tags"]
    attach = service.prompts.edit_prompt(
        EditPrompt(prompt_id=prompt_id, tags=TagRefs(names=("keep", "drop"))), CONTEXT
    )
    assert field_rule(await service.refused(attach)) == ("tags.1", "not_found")
    unused = await service.tags.delete(DeleteTerm(term_id=keep, detach=True), CONTEXT)
    assert unused.detached == [prompt_id] and service.repos.prompt_tags[prompt_id] == set()


async def test_term_results_carry_the_state_and_positions(service: Service) -> None:
    written: TermWritten = await service.tags.create(
        CreateTerm(name="t", extra="#ABCDEF", actor="ann"), CONTEXT
    )
    assert (written.state.kind, written.state.name, written.state.extra) == (TAG, "t", "#ABCDEF")
    (stored,) = service.port.outbox
    assert stored.envelope.type == "promptworks.prompt_tag.created.v1"
    assert stored.event.model_dump(mode="json") == {
        "tag_id": str(written.state.term_id),
        "actor": "ann",
        "name": "t",
        "color": "#ABCDEF",
        "project_id": "default",
    }
