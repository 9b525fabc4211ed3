"""One Verbatim per user and data folder: a second ``verbatim FILE`` hands its files over.

Two windows over one job store would each resume the other's interrupted jobs and race for the
same queue places, so the first process listens on a local socket and later ones only pass their
files to it and exit. The server name is derived from the user and the data folder, so the
tests (each with their own XDG folders) and a second user on the same machine never collide.

Protocol: one JSON line ``{"files": [...]}`` (absolute paths), answered by one line ``ok``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop_app.core.paths import data_dir

logger = logging.getLogger(__name__)

#: How long a second process waits for the running window to take its files.
HANDOFF_TIMEOUT_MS = 5000
ACK = b"ok\n"


def server_name(folder: Path | None = None) -> str:
    """A socket name unique to this user and data folder (short: Unix socket paths are limited)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    where = str(folder if folder is not None else data_dir())
    digest = hashlib.sha256(f"{user}\0{where}".encode("utf-8", "surrogateescape")).hexdigest()
    return f"verbatim-{digest[:20]}"


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

    # ----------------------------------------------------------------- client side
    def send(self, files: Sequence[str | Path], timeout_ms: int = HANDOFF_TIMEOUT_MS) -> bool:
        """Hand ``files`` to a running instance; False when none answers (none runs, or stale).

        Waits in a local event loop rather than with ``waitFor…``: those calls hold Python's
        GIL, so a server in the same process (tests) could never answer. The caller is a
        process that has no window yet, so nothing else waits meanwhile.
        """
        paths = [os.fsdecode(Path(path).absolute()) for path in files]
        message = json.dumps({"files": paths}).encode("utf-8") + b"\n"
        socket = QLocalSocket()
        loop = QEventLoop()
        answer = bytearray()
        failed: list[str] = []

        def on_connected() -> None:
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
            logger.info("Handed %d file(s) to the running Verbatim", len(paths))
            return True
        if connected or answer:
            logger.warning("The running Verbatim (%s) did not take the files", self.name)
        return False

    # ----------------------------------------------------------------- server side
    def listen(self) -> bool:
        """Become the instance. A server left behind by a crashed Verbatim (no one answers on
        it) is removed first; a live one is left alone and False is returned.

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
            self._buffers[socket] = b""
            socket.readyRead.connect(partial(self._on_ready_read, socket))
            socket.disconnected.connect(partial(self._forget, socket))
            if socket.bytesAvailable():
                self._on_ready_read(socket)

    def _on_ready_read(self, socket: QLocalSocket) -> None:
        if socket not in self._buffers:
            return
        data = self._buffers[socket] + bytes(socket.readAll().data())
        if len(data) > 16 * 2**20:  # nobody sends 16 MB of paths; do not grow without end
            logger.warning("Dropped an oversized single-instance message")
            self._forget(socket)
            return
        self._buffers[socket] = data
        if not data.endswith(b"\n"):
            return
        try:
            files = [str(path) for path in json.loads(data)["files"]]
        except (ValueError, KeyError, TypeError):
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
