"""Per-result verdicts (passed, score, reasons, judge judgements, output checks) and the whole
run evaluation (pass rate, latency, cost, per-case statistics, judge cost) in the read model.

Read models are derived data: the evaluation topic is replayed (its checkpoints deleted) so
results evaluated before this revision get their verdicts and runs their full summaries.

Revision ID: 0006
Revises: 0005
"""

from alembic import op
from sqlalchemy import delete

from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.projections import CONSUMER_NAME
from query_api.tables import result_verdicts

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _replay_evaluations() -> None:
    for checkpoints in (consumer_offsets, consumer_stream_positions):
        op.execute(
            delete(checkpoints).where(
                checkpoints.c.consumer == CONSUMER_NAME,
                checkpoints.c.topic == EVALUATION_EVENTS,
            )
        )


def upgrade() -> None:
    result_verdicts.create(op.get_bind(), checkfirst=True)  # 0001 made it on a new database
    _replay_evaluations()


def downgrade() -> None:
    result_verdicts.drop(op.get_bind())
    _replay_evaluations()
