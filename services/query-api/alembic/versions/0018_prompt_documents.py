"""Each prompt's list document stored (``prompt_documents``); one search text per prompt
(``prompts.search``, name and author, with one trigram index for the two it replaces), its
words (``prompts.words``) and the lexicon of every word (``prompt_words``): ADR 0027.

Existing prompts' documents and words are filled here from the rows already in the read model
(the statements the projection runs), so lists keep working across the upgrade without a
replay.

Revision ID: 0018
Revises: 0017
"""

from alembic import op
from sqlalchemy import true

from query_api.projections.prompt_documents import learn_words, render_statement
from query_api.tables import prompt_documents, prompt_words
from query_api.tables.prompts import WORDS

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

NEW_INDEXES = {
    "ix_prompts_search_trgm": "prompts USING gin (search gin_trgm_ops)",
    "ix_prompts_words": "prompts USING gin (words)",
}
OLD_INDEXES = {
    "ix_prompts_name_trgm": "prompts USING gin (name gin_trgm_ops)",
    "ix_prompts_author_trgm": "prompts USING gin (author gin_trgm_ops)",
}


def upgrade() -> None:
    # 0001 already made both on a new database (every read-model table as the code has it).
    op.execute(
        "ALTER TABLE prompts ADD COLUMN IF NOT EXISTS search text "
        "GENERATED ALWAYS AS (name || E'\\n' || author) STORED NOT NULL"
    )
    op.execute(
        f"ALTER TABLE prompts ADD COLUMN IF NOT EXISTS words text[] "
        f"GENERATED ALWAYS AS ({WORDS}) STORED NOT NULL"
    )
    for name, definition in NEW_INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    for name in OLD_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    prompt_documents.create(op.get_bind(), checkfirst=True)
    prompt_words.create(op.get_bind(), checkfirst=True)
    op.get_bind().execute(render_statement(true()))
    op.get_bind().execute(learn_words(true()))


def downgrade() -> None:
    # The tables and columns are kept (0011's views in ``public`` depend on them on a database
    # 0001 made; the previous release ignores them, as 0013's); its search indexes come back.
    for name, definition in OLD_INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    for name in NEW_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
