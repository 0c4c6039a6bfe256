"""The search lexicon (``prompt_words``) loses the words no prompt has any more: the projection
prunes them since this release (``projections.prompt_documents.forget_words``, ADR 0027); the
words left behind by earlier edits go once here (the downgrade keeps them gone: a word no
prompt has matched nothing).

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM prompt_words w"
        " WHERE NOT EXISTS (SELECT 1 FROM prompts p WHERE p.words @> ARRAY[w.word])"
    )
    op.execute(
        "COMMENT ON TABLE prompt_words IS"
        " 'Every word of the prompts'' names and authors (the search lexicon)'"
    )


def downgrade() -> None:
    op.execute(
        "COMMENT ON TABLE prompt_words IS"
        " 'Every word of every prompt''s name and author, ever (the search lexicon)'"
    )
