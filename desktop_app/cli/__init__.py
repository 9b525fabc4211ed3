"""``verbatim-cli``: the command line over the same engine and job queue as the window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from desktop_app import __version__
from desktop_app.core.errors import ConfigError, ModelError, VerbatimError
from desktop_app.core.settings import (
    KNOWN_MODEL_NAMES,
    SETTINGS,
    TASKS,
    Settings,
    load_settings,
)

logger = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """What ``verbatim-cli`` returns; the README's command-line section documents each."""

    OK = 0
    FAILED = 1  # some file (or the work asked for) failed; the reasons were printed
    USAGE = 2  # a bad option or setting, or a model that is not on this computer: nothing ran
    INTERRUPTED = 130  # Ctrl+C


#: Options that set a setting, declared once: the parser adds them under the setting's name and
#: a refused value is named by the option the user typed (``--workers 0``), not by its variable.
SETTING_OPTIONS: dict[str, str] = {
    "whisper_model_size": "--model",
    "language": "--language",
    "task": "--task",
    "beam_size": "--beam-size",
    "max_concurrent_workers": "--workers",
    "api_host": "--host",
    "api_port": "--port",
}


def add_setting_option(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """Add the option that sets the setting ``name``; its value is validated with the setting.

    No ``type=int`` here: the setting's own check reads the number (ASCII digits only) and says
    what is allowed, in the same words as for the environment variable.
    """
    parser.add_argument(SETTING_OPTIONS[name], dest=name, **kwargs)


def discard_stdout() -> None:
    """Send the rest of standard output to the null device once its reader has gone.

    ``verbatim-cli jobs | head``: when ``head`` exits, writing raises BrokenPipeError. This is
    the standard Python handling (see "Note on SIGPIPE" in the ``signal`` documentation): no
    traceback, and no second error when Python flushes standard output at exit.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to redirect
        pass


def _settings_epilog() -> str:
    lines = ["environment variables (command-line options take precedence):"]
    lines += [f"  {spec.env:<26} default {spec.default_value()!s}" for spec in SETTINGS]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verbatim-cli",
        description="Verbatim: private, offline speech-to-text on your own computer.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    transcribe = commands.add_parser(
        "transcribe",
        help="transcribe audio or video files (folders are searched)",
        description="Transcribe audio or video files; folders are searched for media files. "
        "Outputs are written next to each input (or in --output-dir, keeping the folders below "
        "each folder named), named after it. Every output is planned before any work starts.",
    )
    transcribe.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER")
    transcribe.add_argument(
        "--format",
        "-f",
        dest="formats",
        action="append",
        choices=("txt", "srt", "vtt", "json"),
        help="output format; repeat for several (default: txt and srt)",
    )
    transcribe.add_argument("--output-dir", "-o", type=Path, help="write outputs into DIR")
    add_setting_option(
        transcribe, "whisper_model_size", help="model name or CTranslate2 model folder"
    )
    add_setting_option(transcribe, "language", help="spoken language code, or auto")
    add_setting_option(transcribe, "task", choices=TASKS)
    add_setting_option(transcribe, "beam_size", metavar="N", help="beam search width")
    add_setting_option(
        transcribe, "max_concurrent_workers", metavar="N", help="files transcribed at the same time"
    )
    existing = transcribe.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files")
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave existing output files alone and write only the missing ones; a file whose "
        "outputs all exist is not transcribed (to resume a batch)",
    )
    transcribe.add_argument(
        "--timestamps", action="store_true", help="prefix each TXT line with its time span"
    )

    jobs = commands.add_parser(
        "jobs",
        help="list the jobs in the window's job store",
        description="List the jobs the window has stored: id, file, state, progress, error.",
    )
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON")

    models = commands.add_parser("models", help="list or download speech models")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION")
    models_commands.add_parser("list", help="show the configured model and where it is")
    download = models_commands.add_parser(
        "download", help="download a named model (needs a network connection)"
    )
    download.add_argument("name", choices=KNOWN_MODEL_NAMES, metavar="NAME")

    from desktop_app.cli.listen import add_listen_arguments

    commands.add_parser("devices", help="list microphones and other audio inputs")
    listen = commands.add_parser(
        "listen",
        help="dictate: transcribe the microphone live",
        description="Transcribe the microphone live, printing text as it is confirmed. "
        "Stops on Ctrl+C or when standard input closes, after transcribing what was captured.",
    )
    add_listen_arguments(listen)

    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API on this computer (the window's job queue and store)",
        description="Serve Verbatim's HTTP API (docs at /docs) on the window's job store: "
        "other programs upload audio and read transcripts. Stops on Ctrl+C or SIGTERM, "
        "leaving unfinished jobs stored to resume at the next start.",
    )
    add_setting_option(serve, "api_host", metavar="ADDRESS", help="address to listen on")
    add_setting_option(serve, "api_port", metavar="PORT", help="TCP port; 0 picks a free one")
    add_setting_option(serve, "whisper_model_size", help="model name or CTranslate2 model folder")
    add_setting_option(
        serve, "max_concurrent_workers", metavar="N", help="files transcribed at the same time"
    )
    return parser


def _load_settings(overrides: dict[str, Any]) -> Settings:
    from desktop_app.saved_settings import load_saved

    return load_settings(saved=load_saved(), overrides=overrides, options=SETTING_OPTIONS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a closed standard output (``| head``) ends it quietly with exit 1."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, where it can be handled, not at exit
    except BrokenPipeError:
        discard_stdout()
        return ExitCode.FAILED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from desktop_app.core.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any worker thread exists
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    overrides = {name: getattr(args, name, None) for name in SETTING_OPTIONS}
    try:
        settings = _load_settings(overrides)
    except ConfigError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.USAGE

    from desktop_app.core.logs import setup_logging

    log_file = setup_logging(settings.log_level, console=True)
    logger.info("Verbatim %s, configuration:\n%s", __version__, settings.describe())
    try:
        if args.command in ("transcribe", "listen", "serve"):
            from desktop_app.core.model import resolve_model

            # A model that is not on this computer is a bad option, like a missing model folder:
            # refused before any work, with exit 2 and what to do.
            try:
                resolve_model(settings.whisper_model_size)
            except ModelError as exc:
                print(f"verbatim-cli: {exc}", file=sys.stderr)
                return ExitCode.USAGE
        if args.command == "transcribe":
            from desktop_app.cli.transcribe import run_transcribe

            return run_transcribe(args, settings)
        if args.command == "serve":
            from desktop_app.cli.serve import run_serve

            return run_serve(args, settings)
        if args.command == "models":
            return _run_models(args, settings)
        if args.command == "jobs":
            from desktop_app.cli.jobs import run_jobs

            return run_jobs(args)
        if args.command in ("devices", "listen"):
            from desktop_app.cli import listen as live_cli

            if args.command == "devices":
                return live_cli.run_devices(args, settings)
            return live_cli.run_listen(args, settings)
    except BrokenPipeError:
        raise  # main's business: the reader of standard output has gone
    except ConfigError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except VerbatimError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except Exception:
        logger.exception("Unexpected error")
        print(f"verbatim-cli: unexpected error; details are in {log_file}", file=sys.stderr)
        return ExitCode.FAILED
    parser.print_help()
    return ExitCode.USAGE


def _run_models(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """``models list`` names the model by its own name and authors, and says where it is."""
    out = out if out is not None else sys.stdout  # read at call time
    from desktop_app.core.model import describe_model, download_model, resolve_model
    from desktop_app.core.settings import BUNDLED_MODEL

    if args.models_command == "download":
        started = time.monotonic()
        path = download_model(args.name)
        print(f"Downloaded {args.name} to {path} in {time.monotonic() - started:.0f} s", file=out)
        return ExitCode.OK
    spec = settings.whisper_model_size
    try:
        where = str(resolve_model(spec))
    except ModelError as exc:
        print(f"{spec}\t{describe_model(spec)}\tnot on this computer", file=out)
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if spec == BUNDLED_MODEL:
        where = "bundled with Verbatim"
    print(f"{spec}\t{describe_model(spec)}\t{where}", file=out)
    return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
