"""Identity documents accepted at registration (AAC058 证件类型) and their validation."""

from __future__ import annotations

import re

from hub import ids
from hub.identity.errors import InvalidIdentifierError

RESIDENT_ID = "01"

DOCUMENT_TYPES: dict[str, str] = {
    "01": "居民身份证",
    "06": "港澳台居民居住证",
    "07": "外国人永久居留身份证",
}

_OLD_PERMANENT_RESIDENT = re.compile(r"^[A-Z]{3}\d{12}$")


def normalize(document_type: str, number: str) -> str:
    """The compact number, or raise InvalidIdentifierError (Chinese message)."""
    if document_type not in DOCUMENT_TYPES:
        raise InvalidIdentifierError("不支持的证件类型")
    compact = "".join(number.split()).upper()
    if document_type == RESIDENT_ID:
        try:
            return ids.validate_id_number(compact)
        except ids.InvalidIdentifier as exc:
            raise InvalidIdentifierError(exc.message) from None
    if document_type == "07" and _OLD_PERMANENT_RESIDENT.match(compact):
        return compact  # the 15-character card issued before 2023
    # 港澳台居民居住证 (830000…, 810000…, 820000…) and the 2023 permanent-resident card (9…) are
    # 18 characters with the GB 11643 check character; their address codes are not in GB/T 2260.
    if len(compact) != 18 or not compact[:17].isdigit() or compact[17] != ids.id_check_digit(compact[:17]):
        raise InvalidIdentifierError(f"{DOCUMENT_TYPES[document_type]}号码不正确")
    return compact
