"""The kiosk's face check (人脸核验) for a phone recovery with the ID card the kiosk read: a pluggable hook.

A deployment installs its provider (the kiosk vendor's or the public-security photo comparison service)
as ``app.state.face_check``; without one, the kiosk offers the recovery only with the 社会保障卡 and
the query PIN. The hub never keeps the sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FaceResult:
    passed: bool
    provider: str  # recorded with the request's evidence (no score, no image)


class FaceCheck(Protocol):
    def check(self, document_type: str, document_number: str, sample: bytes) -> FaceResult:
        """Whether the live sample matches the holder of the ID card the kiosk read."""
        ...
