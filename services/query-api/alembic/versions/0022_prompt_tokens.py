"""``prompt_tokens``: each prompt once per word and for its class, with its relevance ranking
keys, so a one-word search reads its best matches in index order (ADR 0032).

Existing prompts' tokens are made here from the rows already in the read model (the statement
the projection runs), so searches keep working across the upgrade without a replay.

Revision ID: 0022
Revises: 0021
"""

from alembic import op
from sqlalchemy import delete, true

from query_api.projections.prompt_tokens import index_statement
from query_api.tables import prompt_tokens

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 made it on a new database (it creates every read-model table as the code has it).
    # Made again whole: one a downgrade kept may be stale.
    prompt_tokens.create(op.get_bind(), checkfirst=True)
    op.get_bind().execute(delete(prompt_tokens))
    op.get_bind().execute(index_statement(true()))


def downgrade() -> None:
    # Kept, as 0013 keeps ``advice``: 0001 creates it on a new database (and drops it in its own
    # downgrade); the previous release ignores an extra table of derived data.
    pass
