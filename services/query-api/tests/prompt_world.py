"""A small world of prompt events that uses every prompt, class and tag event type.

Published in an order chosen so that every sort has one right answer, and with the classes and
tags AFTER the prompts that use them (the other way round from how they were created).

Final state (``archived=false`` lists hide ``old greeting``):

- greeting (ann lee; class demo; tags onboarding, email): versions 1-3, current 2 (rolled
  back from 3), production -> 2, staging -> 3.
- summarize article (bob stone; class news): version 1 (uses an undeclared variable).
- translator (carol; tag email): version 1; archived, then restored.
- old greeting (ann lee; class demo; tag onboarding): version 1, production -> 1; archived.

``greeting`` was created as ``greeter`` in class ``news`` without tags and edited later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from promptworks_contracts.events import (
    DomainEvent,
    PromptArchived,
    PromptClassCreated,
    PromptClassUpdated,
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptMetadataEdited,
    PromptRestored,
    PromptTagCreated,
    PromptTagUpdated,
    PromptVersionCreated,
)
from promptworks_contracts.values import (
    ChatMessage,
    ChatTemplate,
    ModelParameters,
    ModelRef,
    TextTemplate,
    VariableSpec,
)


def version(prompt: PromptCreated, number: int, **fields: Any) -> PromptVersionCreated:
    fields.setdefault("template", TextTemplate(text=f"{prompt.name} v{number}"))
    return PromptVersionCreated(
        prompt_id=prompt.prompt_id, version_id=uuid.uuid4(), number=number, **fields
    )


def moved(
    v: PromptVersionCreated, label: str, previous: int | None = None, **fields: Any
) -> PromptLabelMoved:
    return PromptLabelMoved(
        prompt_id=v.prompt_id,
        label=label,
        version_id=v.version_id,
        version_number=v.number,
        previous_version_number=previous,
        **fields,
    )


@dataclass
class World:
    demo: PromptClassCreated
    news: PromptClassCreated
    onboarding: PromptTagCreated
    email: PromptTagCreated
    legacy: PromptTagCreated
    greeting: PromptCreated
    summarize: PromptCreated
    translator: PromptCreated
    old: PromptCreated
    greeting_versions: list[PromptVersionCreated]
    others: dict[str, PromptVersionCreated]
    events: list[DomainEvent] = field(default_factory=list)

    @property
    def prompts(self) -> list[PromptCreated]:
        return [self.greeting, self.summarize, self.translator, self.old]

    @classmethod
    def build(cls) -> World:
        demo = PromptClassCreated(class_id=uuid.uuid4(), name="demo", description="Demos")
        news = PromptClassCreated(class_id=uuid.uuid4(), name="news", description="")
        onboarding = PromptTagCreated(tag_id=uuid.uuid4(), name="onboarding", color="#12AB34")
        email = PromptTagCreated(tag_id=uuid.uuid4(), name="email", color="#0000FF")
        legacy = PromptTagCreated(tag_id=uuid.uuid4(), name="legacy", color="#999999")
        greeting = PromptCreated(
            prompt_id=uuid.uuid4(), name="greeter", author="ann lee", class_id=news.class_id,
            actor="ann",
        )  # fmt: skip
        summarize = PromptCreated(
            prompt_id=uuid.uuid4(), name="summarize article", author="bob stone",
            class_id=news.class_id, actor="bob",
        )  # fmt: skip
        translator = PromptCreated(
            prompt_id=uuid.uuid4(), name="translator", author="carol", tag_ids=[email.tag_id]
        )
        old = PromptCreated(
            prompt_id=uuid.uuid4(), name="old greeting", author="ann lee",
            class_id=demo.class_id, tag_ids=[onboarding.tag_id],
        )  # fmt: skip
        g1 = version(
            greeting, 1, label="v1", template=TextTemplate(text="Hello {{ name }}"),
            variables=[VariableSpec(name="name")], commit_message="first", author="ann lee",
            actor="ann",
        )  # fmt: skip
        g2 = version(
            greeting,
            2,
            template=ChatTemplate(
                messages=[
                    ChatMessage(role="system", content="Be {{ tone }}."),
                    ChatMessage(role="user", content="Hi {{ name }}"),
                ]
            ),
            variables=[VariableSpec(name="name"), VariableSpec(name="tone", required=False)],
            default_model=ModelRef(provider="mock", name="echo"),
            default_parameters=ModelParameters(temperature=0.2),
            commit_message="chat form",
            author="ann lee",
            actor="ann",
        )
        g3 = version(
            greeting, 3, label="v3", template=TextTemplate(text="Hi {{ name }}, {{ greeting }}"),
            variables=[VariableSpec(name="name")], commit_message="casual", actor="dan",
        )  # fmt: skip
        others = {
            "summarize": version(
                summarize,
                1,
                template=TextTemplate(text="Summarize {{ article }}"),
                variables=[VariableSpec(name="length", type="number")],
                commit_message="init",
            ),
            "translator": version(
                translator,
                1,
                template=TextTemplate(text="Translate {{ text }} to {{ lang }}"),
                variables=[VariableSpec(name="text"), VariableSpec(name="lang", default="French")],
            ),
            "old": version(old, 1),
        }
        world = cls(
            demo, news, onboarding, email, legacy, greeting, summarize, translator, old,
            [g1, g2, g3], others,
        )  # fmt: skip
        world.events = [
            greeting, g1,
            summarize, others["summarize"],
            translator, others["translator"],
            old, others["old"], moved(others["old"], "production"),
            PromptArchived(prompt_id=old.prompt_id, message="superseded", actor="ann"),
            PromptArchived(prompt_id=translator.prompt_id, actor="carol"),
            PromptRestored(prompt_id=translator.prompt_id, message="still used", actor="carol"),
            g2,
            moved(g1, "production", actor="ann", message="ship it"),
            moved(g2, "staging", actor="ann"),
            g3,
            moved(g2, "production", 1, actor="dan"),
            moved(g3, "staging", 2, actor="dan"),
            PromptCurrentVersionSet(
                prompt_id=greeting.prompt_id, version_id=g2.version_id, version_number=2,
                previous_version_number=3, message="too casual", actor="ann",
            ),
            PromptMetadataEdited(
                prompt_id=greeting.prompt_id, name="greeting", author="ann lee",
                class_id=demo.class_id, tag_ids=[onboarding.tag_id, email.tag_id],
                changed=["name", "class_id", "tag_ids"], message="tidy up", actor="ann",
            ),
            # Classes and tags last: the prompts above refer to them before they exist here.
            demo, news, onboarding, email, legacy,
            PromptClassUpdated(class_id=news.class_id, name="news", description="Articles"),
            PromptTagUpdated(tag_id=email.tag_id, name="email", color="#0000AA"),
        ]  # fmt: skip
        return world

    async def publish(self, publisher: Any, api: Any) -> None:
        await publisher.publish(self.events)
        for stream in (*self.prompts, self.demo, self.news, self.onboarding, self.email):
            await api.applied(stream, publisher.version(stream))
        await api.applied(self.legacy, publisher.version(self.legacy))
