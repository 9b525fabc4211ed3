"""One Verbatim per user and data folder: a second ``verbatim FILE`` hands its files over.

Two windows over one job store would each resume the other's interrupted jobs and race for the
same queue places. The store's lock decides who owns it (:class:`~desktop_app.core.job_store.
StoreLock`); the owner listens on a local socket and later starts only pass their files to it
and exit. The socket lives in the user's runtime folder (``$XDG_RUNTIME_DIR``, else a private
0700 folder), where no other user can create or reach it, and each end checks that the other
is the same user (``SO_PEERCRED``), so a file list never goes to anyone else. Its name is
derived from the data folder, so the tests (each with their own XDG folders) never collide.

The server survives what a local client may send: a flood of connections (it keeps at most
:data:`MAX_CONNECTIONS` open, dropping the oldest, so it never runs out of descriptors, which
would make Qt close and delete it) and any bytes at all (a message that is not the expected
shape is dropped with a log line).

Protocol: one JSON line ``{"files": [...]}`` (absolute paths), answered by one line ``ok``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket as sockets
import struct
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop_app.core.paths import data_dir, runtime_dir

logger = logging.getLogger(__name__)

#: How long a second process waits for the running window to take its files.
HANDOFF_TIMEOUT_MS = 5000
#: Between two tries to reach a window that is still starting.
RETRY_INTERVAL_MS = 100
ACK = b"ok\n"
#: Connections kept open at once; a flood beyond it drops the oldest (see the module docstring).
MAX_CONNECTIONS = 32
#: Nobody sends this many bytes of paths; a longer message is dropped.
MAX_MESSAGE_BYTES = 16 * 2**20


def server_name(folder: Path | None = None) -> str:
    """The socket's path: in the user's runtime folder, named after the data folder.

    :raises VerbatimError: no private runtime folder can be had (see :func:`runtime_dir`).
    """
    where = str(folder if folder is not None else data_dir())
    digest = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()
    return str(runtime_dir() / f"verbatim-{digest[:20]}")


def peer_uid(descriptor: int) -> int | None:
    """The user id of the process at the other end of a local socket; None where the system
    cannot tell (``SO_PEERCRED`` is Linux's; elsewhere the private folder is the guard)."""
    if not hasattr(sockets, "SO_PEERCRED") or descriptor < 0:
        return None
    size = struct.calcsize("3i")
    with sockets.socket(fileno=os.dup(descriptor)) as peer:  # the copy is closed, not the socket
        _pid, uid, _gid = struct.unpack(
            "3i", peer.getsockopt(sockets.SOL_SOCKET, sockets.SO_PEERCRED, size)
        )
    return int(uid)


def _same_user(socket: QLocalSocket) -> bool:
    uid = peer_uid(int(socket.socketDescriptor()))
    return uid is None or uid == os.getuid()


def parse_message(data: bytes) -> list[str] | None:
    """The file list of a well-formed message, else None (never raises, whatever the bytes:
    deeply nested JSON makes the parser recurse until it fails)."""
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict):
        return None
    files = message.get("files")
    if not isinstance(files, list) or not all(isinstance(path, str) for path in files):
        return None
    return files


class SingleInstance(QObject):
    """Either the running instance (:meth:`listen` succeeded) or a client that hands files over.

    ``files_received`` carries the list of paths (str) another process asked to open.
    """

    files_received = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytes] = {}
        self._dropped = 0  # connections dropped to stay under MAX_CONNECTIONS

    # ----------------------------------------------------------------- client side
    def send(
        self,
        files: Sequence[str | Path],
        timeout_ms: int = HANDOFF_TIMEOUT_MS,
        *,
        retry: bool = False,
    ) -> bool:
        """Hand ``files`` to a running instance; False when none answers (none runs, or stale).

        With ``retry``, keep trying until ``timeout_ms`` has passed: the store's owner is known
        to be starting and opens its socket moments later.

        Waits in a local event loop rather than with ``waitFor…``: those calls hold Python's
        GIL, so a server in the same process (tests) could never answer. The caller is a
        process that has no window yet, so nothing else waits meanwhile.
        """
        paths = [os.fsdecode(Path(path).absolute()) for path in files]
        message = json.dumps({"files": paths}).encode("utf-8") + b"\n"
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            if self._send_once(message, len(paths), remaining_ms):
                return True
            if not retry or time.monotonic() >= deadline:
                return False
            pause = QEventLoop()
            QTimer.singleShot(RETRY_INTERVAL_MS, pause.quit)
            pause.exec()

    def _send_once(self, message: bytes, count: int, timeout_ms: int) -> bool:
        socket = QLocalSocket()
        loop = QEventLoop()
        answer = bytearray()
        failed: list[str] = []

        def on_connected() -> None:
            if not _same_user(socket):  # never hand a file list to another user
                failed.append("the socket belongs to another user")
                logger.warning("Refused to hand files to %s: it belongs to another user", self.name)
                loop.quit()
                return
            socket.write(message)

        def on_ready_read() -> None:
            answer.extend(bytes(socket.readAll().data()))
            if answer.endswith(b"\n"):
                loop.quit()

        def on_error(_error: QLocalSocket.LocalSocketError) -> None:
            failed.append(socket.errorString())
            loop.quit()

        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        socket.connected.connect(on_connected)
        socket.readyRead.connect(on_ready_read)
        socket.errorOccurred.connect(on_error)
        timer.start(timeout_ms)
        socket.connectToServer(self.name)
        if not failed and socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            loop.exec()
        timer.stop()
        connected = socket.state() == QLocalSocket.LocalSocketState.ConnectedState
        # Nothing may call back into this frame once it returns.
        socket.connected.disconnect(on_connected)
        socket.readyRead.disconnect(on_ready_read)
        socket.errorOccurred.disconnect(on_error)
        socket.abort()
        if bytes(answer) == ACK:
            logger.info("Handed %d file(s) to the running Verbatim", count)
            return True
        if connected or answer:
            logger.warning("The running Verbatim (%s) did not take the files", self.name)
        return False

    # ----------------------------------------------------------------- server side
    def listen(self) -> bool:
        """Become the instance (call it holding the store's lock). A server left behind by a
        crashed Verbatim (no one answers on it) is removed first; a live one is left alone and
        False is returned.

        The probe comes first because Qt's ``listen`` with access options replaces an existing
        socket file without an error, which would orphan a live instance.
        """
        if self._someone_answers():
            return False
        if QLocalServer.removeServer(self.name):
            logger.info("Removed a stale single-instance server %s", self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            logger.warning("Cannot listen on %s: %s", self.name, server.errorString())
            return False
        server.newConnection.connect(self._on_connection)
        self.server = server
        return True

    def _someone_answers(self) -> bool:
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        alive = probe.waitForConnected(500)
        probe.abort()
        return bool(alive)

    def close(self) -> None:
        """Stop listening and drop the open connections; safe to call twice."""
        for socket in list(self._buffers):
            self._forget(socket)
        if self.server is not None:
            self.server.close()
            self.server.deleteLater()
            self.server = None

    @Slot()
    def _on_connection(self) -> None:
        assert self.server is not None
        while (socket := self.server.nextPendingConnection()) is not None:
            if not _same_user(socket):
                logger.warning("Refused a single-instance connection from another user")
                socket.abort()
                socket.deleteLater()
                continue
            if len(self._buffers) >= MAX_CONNECTIONS:
                self._forget(next(iter(self._buffers)))  # the oldest
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    logger.warning(
                        "Too many single-instance connections: %d dropped so far", self._dropped
                    )
            self._buffers[socket] = b""
            socket.readyRead.connect(partial(self._on_ready_read, socket))
            socket.disconnected.connect(partial(self._forget, socket))
            if socket.bytesAvailable():
                self._on_ready_read(socket)

    def _on_ready_read(self, socket: QLocalSocket) -> None:
        if socket not in self._buffers:
            return
        data = self._buffers[socket] + bytes(socket.readAll().data())
        if len(data) > MAX_MESSAGE_BYTES:
            logger.warning("Dropped an oversized single-instance message")
            self._forget(socket)
            return
        self._buffers[socket] = data
        if not data.endswith(b"\n"):
            return
        files = parse_message(data)
        if files is None:
            logger.warning("Ignored an unreadable single-instance message")
            self._forget(socket)
            return
        socket.write(ACK)
        socket.flush()
        self.files_received.emit(files)

    def _forget(self, socket: QLocalSocket) -> None:
        """Disconnect first, so the socket's last signals never reach a half-closed instance."""
        if self._buffers.pop(socket, None) is None:
            return
        socket.readyRead.disconnect()
        socket.disconnected.disconnect()
        socket.abort()
        socket.deleteLater()
