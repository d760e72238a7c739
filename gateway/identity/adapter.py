"""authlib's framework-free OAuth 2 core adapted to Starlette/FastAPI.

authlib ships server integrations for Flask and Django only; this is the small missing piece: an
``OAuth2Request`` built from a Starlette request (body read beforehand, since authlib is synchronous)
and ``handle_response`` turning authlib's ``(status, body, headers)`` into a Starlette response.

The request URI is rebuilt on the configured issuer, not taken from the socket: behind a TLS proxy the
socket sees http, while the public URL (and authlib's transport check) is the issuer's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request  # type: ignore[import-untyped]
from fastapi import Request
from fastapi.responses import JSONResponse, Response

FORM = "application/x-www-form-urlencoded"


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in pairs:
            self._data.setdefault(k, v)
            self._datalist[k].append(v)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: dict[str, str], query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def parse_form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


async def oauth2_request(request: Request, issuer: str) -> StarletteOAuth2Request:
    """Build the authlib request; the body is read here so the synchronous server never awaits."""
    form: list[tuple[str, str]] = []
    if request.method == "POST" and request.headers.get("content-type", "").split(";")[0].strip() == FORM:
        form = parse_form(await request.body())
    query = parse_qsl(request.url.query, keep_blank_values=True)
    uri = issuer.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers = {k.title(): v for k, v in request.headers.items()}
    return StarletteOAuth2Request(request.method, uri, headers, query, form)


def handle_response(status: int, body: Any, headers: list[tuple[str, str]] | dict[str, str]) -> Response:
    hdrs = dict(headers)
    hdrs.pop("Content-Type", None)
    if isinstance(body, dict):
        return JSONResponse(body, status_code=status, headers=hdrs)
    return Response(body or b"", status_code=status, headers=hdrs)
