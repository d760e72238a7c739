"""Limits of the wage-declaration spreadsheets (meant as ``HUB_WAGEFILE__…`` once hooked into Settings).

These are technical limits of what the hub accepts, not policy numbers: the base bounds, rates and
average wages of the preview always come from the region's dated parameters (``hub.rules.params``).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class WagefileSettings(BaseModel):
    """Limits applied to every uploaded spreadsheet, checked before any parser sees the content."""

    model_config = ConfigDict(frozen=True)

    max_file_bytes: int = Field(10 * 1024 * 1024, ge=1, description="largest upload accepted (413 above)")
    max_rows: int = Field(20_000, ge=1, description="data rows per declaration (413 above)")
    max_columns: int = Field(64, ge=1, description="columns per sheet (413 above)")
    max_zip_entries: int = Field(256, ge=1, description="entries in an xlsx/ods container")
    max_uncompressed_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="sum of the declared uncompressed sizes of a container"
    )
    max_compression_ratio: int = Field(
        200, ge=1, description="uncompressed ÷ compressed size of one entry above which it is a zip bomb"
    )
    ratio_check_min_bytes: int = Field(
        1024 * 1024, ge=0, description="entries smaller than this (uncompressed) skip the ratio check"
    )
    max_monthly_wage: Decimal = Field(
        Decimal("200000"),
        gt=0,
        description="declared monthly average wage above which a row is refused as a likely typo (yuan)",
    )
    header_search_rows: int = Field(10, ge=1, description="rows searched for the header row")
    require_all_staff: bool = Field(True, description="every person of the roster must have a row")
