"""权益记录核查: 已更正 detected from the core's change feed (``hub.persons.objection_feed``).

``record_digest`` is the fingerprint of the objected record (the contribution month of one 险种, or the
account year) as the query store showed it when staff accepted the objection; the feed pass compares it
with the store after each sync event of the person and, when the record changed, moves the objection to
``corrected`` itself. ``corrected_by`` says who recorded the correction (``feed``, or ``staff`` by hand as
the fallback); ``corrected_event`` and ``corrected_snapshot`` are the position of the change that closed it
(the query store's sync event id and the core snapshot of that sync round). The pass keeps its own position
as the ``objection-feed`` row of ``hub.push_cursor``. Expand only: the previous release ignores the columns.

Revision ID: 0023_objection_feed
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0023_objection_feed"
down_revision = "0001"
branch_labels = ("objection_feed",)
# Only the table it alters: hub.push_cursor (0011_push) is used at run time, not altered, and listing 0011 too
# trips alembic's head bookkeeping when the branches are upgraded together.
depends_on = ("0018_person_services",)


def upgrade() -> None:
    op.execute(
        """
        alter table hub.record_objection
            add column record_digest text,
            add column corrected_by text check (corrected_by in ('feed', 'staff')),
            add column corrected_event bigint,
            add column corrected_snapshot text
        """
    )
    # The feed pass looks up the open accepted objections of the persons a sync round touched.
    op.execute("create index record_objection_accepted on hub.record_objection (person_id) where status = 'accepted'")


def downgrade() -> None:
    op.execute("drop index hub.record_objection_accepted")
    op.execute(
        "alter table hub.record_objection drop column record_digest, drop column corrected_by, "
        "drop column corrected_event, drop column corrected_snapshot"
    )
