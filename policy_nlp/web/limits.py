"""Request-size limits, checked before a body is read: a clear 413 in JSON instead of a slow or huge read."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: JSON and form bodies (a pasted report is at most a few hundred KB).
MAX_BODY_BYTES = 1024 * 1024
#: Uploaded report files (multipart bodies).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class _TooLarge(HTTPException):
    """A body that grew past its limit while being read (no or a false Content-Length)."""

    def __init__(self, limit: int, upload: bool) -> None:
        super().__init__(413, _message(limit, upload))


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_body`` (``max_upload`` for multipart uploads) with 413."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES, max_upload: int = MAX_UPLOAD_BYTES) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.max_upload if upload else self.max_body
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit, upload)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit, upload)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, limit, upload)


def _message(limit: int, upload: bool) -> str:
    what = "uploaded file" if upload else "request body"
    return f"{what} larger than the limit of {limit / 2**20:g} MB (文件或请求过大)"


async def _refuse(send: Send, limit: int, upload: bool) -> None:
    body = json.dumps({"error": _message(limit, upload)}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
