"""Unit declarations (单位网上申报): the write path from a unit's submission through agency review to the core.

Service functions for pages and REST alike (synchronous psycopg; an async route runs them in a worker
thread with a hub-DB connection and a query-store connection, and commits once):

- ``types``: the eight declaration types (``DeclarationType``, Chinese ``label``) and their payloads;
  ``parse`` raises ``ValidationFailed`` with one Chinese message per field (``errors``).
- ``service``: unit operator — ``create`` (draft, or ``submit=True``; idempotent by key), ``update_draft``,
  ``submit``, ``withdraw``, ``get``, ``list_for_unit`` (办件进度), ``history``; reviewer — ``claim``,
  ``assign``, ``release``, ``approve``, ``reject``, ``return_for_correction``, ``bulk_approve``;
  administrator — ``set_auto_rule``.
- ``workbench``: ``queue`` (type, 统筹区, deadline, holder filters; working days left), ``overdue``,
  ``detail`` (the changes against the query store and the review flags), ``statistics``.
- ``calendar``: working days, holidays and 调休 working days (``set_day``, ``clear_day``, ``list_days``);
  ``deadlines``: 限时办结 working days per type (``set_deadline``).
- ``outbox``: the worker that sends approved declarations to the core's command API (``hub declarations run``).

An applied declaration carries ``core_position``, the core transaction of its effect: a page that shows
the result presents it as the consistency token, so the unit never sees its own change missing.
"""
