"""Prompt read models: prompts, their versions, labels and history, classes and tags.

Invariants:
- Every row is derived from the events of topic ``promptworks.prompt`` only.
- Prompts refer to classes and tags by id and nothing more. Classes and tags are other
  aggregates, so their events may be applied before or after the prompts that use them (other
  partitions, other consumer instances): ``prompts`` never copies a name, and the stored list
  documents that do are re-rendered by every class or tag event (``projections.
  prompt_documents``), so no order of arrival leaves a stale name behind, and nothing is
  dropped for want of a name.
- ``prompts.labels`` ({label: version number}) and ``prompt_labels`` hold the same pointers:
  the first for lists and the ``label`` filter (GIN), the second for the by-label lookup (PK).
  ``latest`` is implied (the highest version number) and stored in neither.
- ``prompt_history`` has one row per event of a prompt's stream; its sentence is written at
  read time from ``details``, with the names of the moment.
- Each list order has a btree index that ends with ``prompt_id``: the tie-breaker that makes
  keyset cursors exact.
- ``prompt_documents`` holds each prompt's list document, rendered by PostgreSQL from the rows
  above (``projections.prompt_json``) whenever one of its parts changes, class and tag names
  included (ADR 0027): lists pass it on instead of building it per read.
- ``prompts.search`` (name and author, generated) is what fuzzy search scores; one trigram
  index serves both fields. ``prompts.words`` (its words, generated) and ``prompt_words`` (every
  word seen) serve one-word queries without scoring each prompt (ADR 0027); ``prompt_tokens``
  (each prompt once per word and for its class, with its ranking keys) serves their best
  matches in index order (ADR 0032).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from query_api.tables._base import metadata, project_column, trigram_index

LATEST = "latest"
"""The label every prompt with a version has implicitly: its highest version number."""
WORDS = "regexp_split_to_array(lower(name || ' ' || author), '[^[:alnum:]]+')"
"""A prompt's words (``prompts.words``), as SQL over its row."""

prompts = Table(
    "prompts",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), primary_key=True),
    project_column(),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("class_id", UUID(as_uuid=True), nullable=True),
    Column("tag_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("labels", JSONB, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("current_version_id", UUID(as_uuid=True), nullable=True),
    Column("current_version_number", Integer, nullable=True),
    Column("version_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
    # The fields fuzzy search scores, as one text (ADR 0027). A line break separates them: a
    # query cannot match across it by substring.
    Column(
        "search",
        Text,
        Computed("name || E'\\n' || author", persisted=True),
        nullable=False,
    ),
    # The same text's words, lower case, split as pg_trgm splits words (letters and digits):
    # a one-word query is matched against ``prompt_words`` and then by this array's index.
    Column(
        "words",
        ARRAY(Text),
        Computed(WORDS, persisted=True),
        nullable=False,
    ),
    trigram_index("prompts", "search"),
    Index("ix_prompts_words", "words", postgresql_using="gin"),
    Index("ix_prompts_tag_ids", "tag_ids", postgresql_using="gin"),
    Index("ix_prompts_labels", "labels", postgresql_using="gin"),
)

p = prompts.c
# One per sort key (scanned backwards for the opposite direction), prompt_id as tie-breaker;
# every list is one project's, so the project comes first.
Index("ix_prompts_updated_at", p.project_id, p.updated_at, p.prompt_id)
Index("ix_prompts_created_at", p.project_id, p.created_at, p.prompt_id)
Index("ix_prompts_name", p.project_id, p.name, p.prompt_id)
# The default list (archived hidden) in its order, and its count as an index-only scan.
Index(
    "ix_prompts_active_updated_at",
    p.project_id,
    p.updated_at,
    p.prompt_id,
    postgresql_where=text("NOT archived"),
)
# The class filter in the default order, and the per-class counts (index-only with archived).
Index(
    "ix_prompts_class",
    p.class_id,
    p.updated_at,
    p.prompt_id,
    postgresql_include=["archived"],
)

prompt_documents = Table(
    "prompt_documents",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), primary_key=True),
    Column(
        "document",
        Text,
        nullable=False,
        comment="PromptOut as the list answers it (prompt_json), kept by the projection",
    ),
)

prompt_words = Table(
    "prompt_words",
    metadata,
    Column("word", Text, primary_key=True),
    trigram_index("prompt_words", "word"),
    comment="Every word of the prompts' names and authors (the search lexicon)",
)
"""What a one-word query is compared with (a few rows per word, not one per prompt): the words
it matches lead to the prompts through ``ix_prompts_words``. A word an edit leaves to no prompt
is deleted (``projections.prompt_documents.forget_words``)."""

prompt_tokens = Table(
    "prompt_tokens",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column(
        "token",
        Text,
        nullable=False,
        comment="one of the prompt's words (prompts.words), or 'c:' and its class id",
    ),
    project_column(),
    Column("archived", Boolean, nullable=False),
    Column("name_is_token", Boolean, nullable=False, comment="lower(name) = token"),
    Column("name_length", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("prompt_id", "token"),
    comment="Each prompt once per word of its name and author and once for its class, with "
    "its relevance ranking keys: the search's best matches in index order (ADR 0032)",
    # Autovacuum sooner than by default (20 % of the rows): the page's count is an index-only
    # scan, which reads the table for every row on a page vacuum has not marked all-visible.
    postgresql_with={
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_vacuum_insert_scale_factor": "0.02",
    },
)
"""A one-word search's best matches without scoring each matching prompt: the words and classes
the query matches (``prompt_words``, ``prompt_classes``) become tokens, and each token's
prompts are read in relevance order (within a token every prompt scores the same) from
``ix_prompt_tokens_rank``, ``offset + limit`` of them at most (``queries.prompt_search``).
Kept by the projection with each prompt's document (``projections.prompt_tokens``)."""
t_ = prompt_tokens.c
Index(
    "ix_prompt_tokens_rank",
    t_.project_id,
    t_.token,
    t_.archived,
    t_.name_is_token.desc(),
    t_.name_length,
    t_.updated_at.desc(),
    t_.prompt_id.desc(),
)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("version_id", UUID(as_uuid=True), primary_key=True),
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("number", Integer, nullable=False),
    Column("label", Text, nullable=True),
    Column("template", JSONB, nullable=False),
    Column("variables", JSONB, nullable=False),
    Column("default_model", JSONB, nullable=True),
    Column("default_parameters", JSONB, nullable=True),
    Column("commit_message", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column(
        "variables_report",
        JSONB,
        nullable=False,
        comment="{undeclared, unused}: variables the template uses without declaring, and back",
    ),
    # Where the version came from (optimisation advice, ADR 0024); null: typed by hand.
    Column("origin", JSONB, nullable=True),
    UniqueConstraint("prompt_id", "number", name="uq_prompt_versions_prompt_number"),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("label", Text, nullable=False),
    Column("version_id", UUID(as_uuid=True), nullable=False),
    Column("version_number", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("prompt_id", "label"),
)

prompt_history = Table(
    "prompt_history",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", Text, nullable=False, comment="e.g. version_created, label_moved"),
    Column("actor", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSONB, nullable=False, comment="What the summary sentence is made of"),
    PrimaryKeyConstraint("prompt_id", "stream_version"),
)

prompt_classes = Table(
    "prompt_classes",
    metadata,
    Column("class_id", UUID(as_uuid=True), primary_key=True),
    project_column(),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
    trigram_index("prompt_classes", "name"),
)
Index(
    "ix_prompt_classes_lower_name", prompt_classes.c.project_id, func.lower(prompt_classes.c.name)
)

prompt_tags = Table(
    "prompt_tags",
    metadata,
    Column("tag_id", UUID(as_uuid=True), primary_key=True),
    project_column(),
    Column("name", Text, nullable=False),
    Column("color", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
)
Index("ix_prompt_tags_lower_name", prompt_tags.c.project_id, func.lower(prompt_tags.c.name))

prompt_counts = Table(
    "prompt_counts",
    metadata,
    project_column(),
    Column("partition", Integer, nullable=False, comment="of topic promptworks.prompt"),
    Column("prompts", BigInteger, nullable=False),
    Column("active", BigInteger, nullable=False, comment="prompts not archived"),
    PrimaryKeyConstraint("project_id", "partition"),
)
"""How many prompts there are, per project and partition: the total of the unfiltered list without
counting 100,000 rows. A prompt's events all travel on one partition, owned by one consumer at
a time, so each row has one writer and no contention."""

PROMPT_READ_MODEL_TABLES = (
    prompts,
    prompt_documents,
    prompt_words,
    prompt_tokens,
    prompt_versions,
    prompt_labels,
    prompt_history,
    prompt_classes,
    prompt_tags,
    prompt_counts,
)
"""Everything built from topic ``promptworks.prompt``."""
