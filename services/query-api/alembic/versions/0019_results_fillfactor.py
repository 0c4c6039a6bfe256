"""``results`` keeps half of each page free (``fillfactor`` 50), so that the evaluation's
rewrite of a result's document (``projections.result_documents.store_evaluated``) finds room on
the result's own page and is a HOT update: no new entry in any of the table's six indexes
(the trigram index included) when the filters' columns (``ok``, ``failed_checks``) keep their
values. Pages written before keep theirs until rewritten; new results get the room.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

from query_api.tables.runs import RESULTS_FILLFACTOR

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"ALTER TABLE results SET (fillfactor = {RESULTS_FILLFACTOR})")


def downgrade() -> None:
    op.execute("ALTER TABLE results RESET (fillfactor)")
