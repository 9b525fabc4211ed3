"""Receiving an upload: the multipart body is parsed as it arrives and the file part is written
straight to disk, so the size limit holds while reading and memory never holds the file.

The file gets a generated folder under the uploads folder and a name made safe from the client's
(only its last component, printable, bounded): the client's name is shown, never used as a path.
A refusal, an error or a client that goes away mid-upload removes that folder again.
"""

from __future__ import annotations

import logging
import re
import shutil
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from desktop_app.server.errors import ApiError, ErrorCode

logger = logging.getLogger(__name__)

FILE_FIELD = "audio_file"
#: Form fields other than the file are short options; more than this is not an option.
MAX_FIELD_BYTES = 4096
#: After a refusal, the rest of the body is read and dropped up to this much, so that the
#: client, still sending, can read the answer instead of a reset connection.
DRAIN_LIMIT_BYTES = 16 * 2**20
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_name(raw: bytes) -> str:
    """A file name from what a client sent: its last path component, valid text, no control or
    separator characters, not hidden, bounded; ``upload`` when nothing is left."""
    text = raw.decode("utf-8", "replace")
    text = re.split(r"[/\\]", text)[-1]
    text = unicodedata.normalize("NFC", _UNSAFE.sub("_", text)).strip(" .")
    if len(text) > MAX_NAME_CHARS:
        _, dot, suffix = text.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        text = text[: MAX_NAME_CHARS - len(keep) - 1] + ("." + keep if keep else "")
    return text or "upload"


@dataclass
class ReceivedUpload:
    folder: Path
    path: Path | None = None
    client_name: str = ""
    size: int = 0
    fields: dict[str, list[str]] = field(default_factory=dict)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Receiver:
    """The parser's callbacks, keeping the state of the part being read."""

    def __init__(self, upload: ReceivedUpload, max_bytes: int) -> None:
        self.upload = upload
        self.max_bytes = max_bytes
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.value = bytearray()
        self.file: BinaryIO | None = None
        self.problem: ApiError | None = None

    def on_part_begin(self) -> None:
        self.headers = {}
        self.value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            return
        if self.name != FILE_FIELD or self.upload.path is not None:
            self._refuse(
                ErrorCode.BAD_REQUEST,
                f"Send one file, in the form field {FILE_FIELD!r} (got a file in {self.name!r}).",
            )
            return
        self.upload.client_name = safe_name(filename)
        self.upload.path = self.upload.folder / self.upload.client_name
        self.file = self.upload.path.open("xb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.problem is not None:
            return
        if self.file is not None:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                self._refuse(
                    ErrorCode.FILE_TOO_LARGE,
                    f"{self.upload.client_name} is over the {self.max_bytes / 2**20:.0f} MB limit "
                    "(MAX_FILE_SIZE_MB).",
                    {"max_file_size_bytes": self.max_bytes},
                )
                return
            self.file.write(data[start:end])
        else:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                self._refuse(ErrorCode.BAD_REQUEST, f"The form field {self.name!r} is too long.")

    def on_part_end(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        elif self.problem is None and self.name:
            text = self.value.decode("utf-8", "replace").strip()
            self.upload.fields.setdefault(self.name, []).append(text)

    def _refuse(self, code: ErrorCode, message: str, details: object = None) -> None:
        if self.problem is None:
            self.problem = ApiError(code, message, details)
        if self.file is not None:
            self.file.close()
            self.file = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def receive_upload(
    content_type: str, body: AsyncIterator[bytes], upload_dir: Path, max_bytes: int
) -> ReceivedUpload:
    """Read a ``multipart/form-data`` body into a new folder under ``upload_dir``.

    :raises ApiError: the body is not a form with one file, or the file is over ``max_bytes``;
        nothing is left on disk.
    :raises starlette.requests.ClientDisconnect: the client went away; nothing is left on disk.
    """
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"Send the audio as multipart/form-data with the file in {FILE_FIELD!r}.",
        )
    upload = ReceivedUpload(folder=upload_dir / uuid.uuid4().hex)
    upload.folder.mkdir(parents=True)
    receiver = _Receiver(upload, max_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
        },
    )
    drained = 0
    try:
        async for chunk in body:
            if receiver.problem is None:
                parser.write(chunk)
            else:  # refused: read on (within a bound) so the client can hear why
                drained += len(chunk)
                if drained > DRAIN_LIMIT_BYTES:
                    break
        if receiver.problem is None:
            parser.finalize()
    except MultipartParseError as exc:
        receiver.close()
        upload.discard()
        raise ApiError(ErrorCode.BAD_REQUEST, f"The form data cannot be read: {exc}.") from None
    except BaseException:
        receiver.close()
        upload.discard()
        raise
    problem = receiver.problem
    if problem is None and upload.path is None:
        problem = ApiError(ErrorCode.BAD_REQUEST, f"No file in the form field {FILE_FIELD!r}.")
    if problem is not None:
        receiver.close()
        upload.discard()
        raise problem
    return upload
