"""What the server needs from the settings, decided once when it is built."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.paths import data_dir
from desktop_app.core.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds a refused client is told to wait (``Retry-After``) when the queue is full.
AT_CAPACITY_RETRY_AFTER_S = 5
#: The upload folder's name under the data folder.
UPLOADS_FOLDER_NAME = "uploads"


def default_upload_dir() -> Path:
    return data_dir() / UPLOADS_FOLDER_NAME


def is_upload(path: Path, upload_dir: Path | None = None) -> bool:
    """Whether a job's file came over the API: every upload has its own folder in the uploads
    folder, so the job list can say so without a field in the job store."""
    return path.parent.parent == (upload_dir or default_upload_dir())


def is_loopback(host: str) -> bool:
    """Whether only programs on this computer can reach ``host``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_token(settings: Settings) -> Settings:
    """Off loopback a token is required: the one saved with the settings, generated and saved
    the first time. Saved, so that a client set up once keeps working after a restart, and the
    window and ``verbatim-cli serve`` hand out the same one. It writes the settings file: call it
    off the GUI thread."""
    if is_loopback(settings.api_host) or settings.api_token:
        return settings
    from desktop_app.saved_settings import load_saved, save

    token = str(load_saved().get("api_token") or "")  # saved since ``settings`` were read
    if not token:
        token = secrets.token_urlsafe(32)
        save({"api_token": token})
        logger.info("Generated and saved an access token for the API")
    return settings.replace(api_token=token)


@dataclass(frozen=True)
class ServerConfig:
    """The effective server configuration: settings plus where uploads are kept."""

    settings: Settings
    upload_dir: Path

    @property
    def host(self) -> str:
        return self.settings.api_host

    @property
    def port(self) -> int:
        return self.settings.api_port

    @property
    def token_required(self) -> bool:
        """Off loopback, anyone on the network could use the queue: a token is required."""
        return not is_loopback(self.host)

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return tuple(
            origin.strip() for origin in self.settings.api_cors_origins.split(",") if origin.strip()
        )
