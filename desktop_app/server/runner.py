"""Running the server beside a Qt event loop: uvicorn on its own thread, with its own loop.

The listening socket is bound in :meth:`ApiServer.start`, on the caller's thread, so that a port
in use is a clear error at once (not a log line from another thread), and port 0 resolves to the
real port before anyone is told where to connect.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvicorn

from desktop_app.core.errors import VerbatimError
from desktop_app.core.settings import Settings
from desktop_app.job_queue import JobQueue
from desktop_app.server.app import ApiState, create_app
from desktop_app.server.config import ServerConfig, default_upload_dir

logger = logging.getLogger(__name__)

#: Threads for the handlers' disk work (uploads' probes, store writes, transcripts).
EXECUTOR_THREADS = 4
START_TIMEOUT_S = 30.0


class ServerError(VerbatimError):
    """The server cannot start: the address is in use or not this computer's."""


class ApiServer:
    """The HTTP API over ``queue``, served on a background thread until :meth:`stop`.

    ``clean_up_jobs``: whether the server also forgets old finished jobs (the headless serve);
    the window has its own clean-up timer.
    """

    def __init__(
        self,
        queue: JobQueue,
        settings: Settings,
        *,
        upload_dir: Path | None = None,
        clean_up_jobs: bool = False,
    ) -> None:
        self.config = ServerConfig(settings, upload_dir or default_upload_dir())
        self._executor = ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="verbatim-api")
        self.state = ApiState(queue, self.config, self._executor, clean_up_jobs=clean_up_jobs)
        self.app = create_app(self.state)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def start(self) -> None:
        """Bind and start serving; returns once the server accepts connections.

        :raises ServerError: the address cannot be used, with what to do.
        """
        config = self.config
        if config.token_required and not config.settings.api_token:
            raise ServerError(
                f"Serving on {config.host}, an address other computers can reach, needs an "
                "access token: set API_TOKEN (verbatim-cli serve generates one)."
            )
        self.config.upload_dir.mkdir(parents=True, exist_ok=True)
        listener: socket.socket | None = None
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                config.host, config.port, type=socket.SOCK_STREAM
            )[0]
            listener = socket.socket(family, kind, proto)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
        except OSError as exc:
            if listener is not None:
                listener.close()
            problem = exc.strerror or str(exc)
            raise ServerError(
                f"Cannot serve on {config.host}:{config.port}: {problem}. Choose another "
                "API_PORT (or stop the program using it), or an API_HOST of this computer."
            ) from None
        self._socket = listener
        self.port = listener.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,
                ws="websockets-sansio",  # the non-deprecated implementation
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
        )
        started = threading.Event()
        server = self._server

        def serve() -> None:
            try:
                server.run(sockets=[listener])
            except BaseException:  # SystemExit from uvicorn's start-up, or a bug: never silent
                logger.exception("The API server stopped unexpectedly")
            finally:
                started.set()

        self._thread = threading.Thread(target=serve, name="verbatim-api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not started.wait(0.02) and not server.started and time.monotonic() < deadline:
            pass  # uvicorn says it is up only through this flag
        if not server.started:
            self.stop()
            raise ServerError(f"The server on {self.url} could not start; see the log.")
        logger.info("Serving the API on %s", self.url)

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish (within a few seconds), and return
        when the thread has ended."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._executor.shutdown(wait=True)
        logger.info("Stopped the API server")
