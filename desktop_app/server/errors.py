"""The server's refusals: one code per reason, one JSON shape for every error.

The shape is the original service's: ``{"error": {"code", "message", "details"}}``. Codes are
an enum end to end; their text appears only in the JSON and in the metrics' labels.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from desktop_app.job_queue import RefusalCode


class ErrorCode(str, Enum):
    AT_CAPACITY = RefusalCode.AT_CAPACITY.value
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    NOT_AUDIO = "NOT_AUDIO"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
    UNAUTHORIZED = "UNAUTHORIZED"
    CLIENT_DISCONNECTED = "CLIENT_DISCONNECTED"

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {
    ErrorCode.AT_CAPACITY: 503,
    ErrorCode.FILE_TOO_LARGE: 413,
    ErrorCode.NOT_AUDIO: 415,
    ErrorCode.BAD_REQUEST: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_STREAMS: 429,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.CLIENT_DISCONNECTED: 499,
}


class ApiError(Exception):
    """Raised by a handler; answered as the error JSON with the code's status."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_body(code: ErrorCode, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": message, "details": details}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.code.status,
        headers=error.headers,
    )


#: The close code for a refused WebSocket where the server cannot answer in HTTP (RFC 6455
#: "policy violation").
POLICY_VIOLATION = 1008


async def refuse_websocket(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    """Refuse a WebSocket before accepting it: with the error's HTTP status, headers and JSON
    (the ASGI denial-response extension, which uvicorn offers), else by closing it."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await error_response(error)(scope, receive, send)
    else:
        await send(
            {"type": "websocket.close", "code": POLICY_VIOLATION, "reason": error.message[:100]}
        )
