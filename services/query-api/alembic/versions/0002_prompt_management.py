"""Prompt management read models: classes, tags, labels, history, archive (issue 3).

PromptCreated now names its class and tags by id, so the prompt read models change shape.
Read models are derived data: this migration drops the prompt read models in whatever shape
they have, creates them anew and deletes this consumer's checkpoints of topic
``promptworks.prompt`` only, so the projection replays that topic into the new shape on its
next start (run and evaluation read models are left as they are).

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from sqlalchemy import delete

from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.projections import CONSUMER_NAME
from query_api.tables import PROMPT_READ_MODEL_TABLES

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _replay_prompt_topic() -> None:
    for checkpoints in (consumer_offsets, consumer_stream_positions):
        op.execute(
            delete(checkpoints).where(
                checkpoints.c.consumer == CONSUMER_NAME, checkpoints.c.topic == PROMPT_EVENTS
            )
        )


def _drop_prompt_read_models() -> None:
    for table in reversed(PROMPT_READ_MODEL_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table.name}")


def upgrade() -> None:
    _drop_prompt_read_models()
    for table in PROMPT_READ_MODEL_TABLES:
        table.create(op.get_bind())
    _replay_prompt_topic()


def downgrade() -> None:
    _drop_prompt_read_models()
    for statement in _V1_PROMPT_TABLES:
        op.execute(statement)
    _replay_prompt_topic()


# The 0001 shape, frozen here (0001 itself builds from the current metadata).
_V1_PROMPT_TABLES = (
    """CREATE TABLE prompts (
        prompt_id uuid PRIMARY KEY, name text NOT NULL, description text NOT NULL,
        author text NOT NULL, class_name text, tags text[] NOT NULL,
        current_version_id uuid, current_version_number integer,
        version_count integer NOT NULL, created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, stream_version integer NOT NULL)""",
    "CREATE INDEX ix_prompts_name_trgm ON prompts USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_prompts_author_trgm ON prompts USING gin (author gin_trgm_ops)",
    "CREATE INDEX ix_prompts_class_name_trgm ON prompts USING gin (class_name gin_trgm_ops)",
    "CREATE INDEX ix_prompts_updated_at ON prompts (updated_at DESC, prompt_id DESC)",
    """CREATE TABLE prompt_versions (
        version_id uuid PRIMARY KEY, prompt_id uuid NOT NULL, number integer NOT NULL,
        label text, template jsonb NOT NULL, variables jsonb NOT NULL,
        default_model jsonb, default_parameters jsonb, commit_message text NOT NULL,
        author text NOT NULL, created_at timestamptz NOT NULL,
        CONSTRAINT uq_prompt_versions_prompt_number UNIQUE (prompt_id, number))""",
)
