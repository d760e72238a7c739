"""Spreadsheets of the unit portal: the annual wage declaration (年度缴费工资申报) and batch templates.

Framework-free: a web front end passes bytes in and gets bytes, values or a ``WagefileError`` back.

* ``template``: xlsx templates (declaration pre-filled with the roster, batch registration, batch stop).
* ``container``: what an upload really is, and refusal of anything unsafe, before any parser runs.
* ``sheet``: row-by-row reading (python-calamine) of one sheet, shared by every kind of file.
* ``declaration``: the annual wage declaration checked against the roster.
* ``stops``: the batch 人员停保（减员）file checked against the roster.
* ``registrations``: the batch 人员基本信息登记 file (new persons, ID numbers checked in full).
* ``preview``: bases after the bounds and monthly amounts per 险种 from the region's parameters.
* ``annotate``: the uploaded rows with their errors marked, as a workbook.

A front end's upload handler, in outline::

    try:
        declaration = read_declaration(body, roster, year=year, settings=settings.wagefile)
    except WagefileError as exc:        # exc.status: 413, 415 or 422; exc.extensions["code"]
        ...                             # audit the refusal, render exc.detail; nothing stored
    if not declaration.ok:              # 422 with declaration.errors listed per row and column,
        ...                             # and annotated_workbook(declaration) offered for download
    result = preview(declaration.require_clean(), params, period, funding=unit.funding)

``require_clean`` raises ``DeclarationRejected`` (422, every error in ``extensions["errors"]``)
unless the whole file is clean, so nothing of a partly wrong file can be stored by mistake.
"""

from hub.wagefile.annotate import annotated_workbook
from hub.wagefile.config import WagefileSettings
from hub.wagefile.declaration import Declaration, read_declaration
from hub.wagefile.errors import WAGEFILE_ERRORS, WagefileError
from hub.wagefile.model import CellError, DeclaredWage, RosterEntry
from hub.wagefile.preview import Preview, PreviewLine, preview
from hub.wagefile.registrations import Registration, RegistrationBatch, read_registrations
from hub.wagefile.sheet import Upload
from hub.wagefile.stops import StopBatch, StopRequest, read_stop_batch
from hub.wagefile.template import declaration_template, registration_template, stop_template

__all__ = [
    "WAGEFILE_ERRORS",
    "CellError",
    "Declaration",
    "DeclaredWage",
    "Preview",
    "PreviewLine",
    "Registration",
    "RegistrationBatch",
    "RosterEntry",
    "StopBatch",
    "StopRequest",
    "Upload",
    "WagefileError",
    "WagefileSettings",
    "annotated_workbook",
    "declaration_template",
    "preview",
    "read_declaration",
    "read_registrations",
    "read_stop_batch",
    "registration_template",
    "stop_template",
]
