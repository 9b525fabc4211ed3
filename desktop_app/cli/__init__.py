"""``verbatim-cli``: the command line over the same engine and job queue as the window."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from desktop_app import __version__
from desktop_app.core.errors import ConfigError, ModelError, VerbatimError
from desktop_app.core.settings import SETTINGS, Settings, load_settings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
        "Outputs are written next to each input (or in --output-dir), named after it.",
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
    transcribe.add_argument("--model", help="model name or CTranslate2 model folder")
    transcribe.add_argument("--language", help="spoken language code, or auto")
    transcribe.add_argument("--task", choices=("transcribe", "translate"))
    transcribe.add_argument("--beam-size", type=int)
    transcribe.add_argument("--workers", type=int, help="files transcribed at the same time")
    transcribe.add_argument(
        "--overwrite", action="store_true", help="replace existing output files"
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
    download.add_argument("name")

    from desktop_app.cli.listen import add_listen_arguments

    commands.add_parser("devices", help="list microphones and other audio inputs")
    listen = commands.add_parser(
        "listen",
        help="dictate: transcribe the microphone live",
        description="Transcribe the microphone live, printing text as it is confirmed. "
        "Stops on Ctrl+C or when standard input closes, after transcribing what was captured.",
    )
    add_listen_arguments(listen)
    return parser


def _load_settings(overrides: dict[str, Any]) -> Settings:
    from desktop_app.saved_settings import load_saved

    return load_settings(saved=load_saved(), overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from desktop_app.core.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any worker thread exists
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    overrides: dict[str, Any] = {}
    if args.command == "transcribe":
        overrides = {
            "whisper_model_size": args.model,
            "language": args.language,
            "task": args.task,
            "beam_size": args.beam_size,
            "max_concurrent_workers": args.workers,
        }
    try:
        settings = _load_settings(overrides)
    except ConfigError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from desktop_app.core.logs import setup_logging

    log_file = setup_logging(settings.log_level, console=True)
    logger.info("Verbatim %s, configuration:\n%s", __version__, settings.describe())
    try:
        if args.command == "transcribe":
            from desktop_app.cli.transcribe import run_transcribe

            return run_transcribe(args, settings)
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
    except ModelError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except VerbatimError as exc:
        print(f"verbatim-cli: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        logger.exception("Unexpected error")
        print(f"verbatim-cli: unexpected error; details are in {log_file}", file=sys.stderr)
        return EXIT_FAILED
    parser.print_help()
    return EXIT_USAGE


def _run_models(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # read at call time
    from desktop_app.core.model import download_model, resolve_model

    if args.models_command == "download":
        started = time.monotonic()
        path = download_model(args.name)
        print(f"Downloaded {args.name} to {path} in {time.monotonic() - started:.0f} s", file=out)
        return EXIT_OK
    path = resolve_model(settings.whisper_model_size)
    print(f"{settings.whisper_model_size}\t{path}", file=out)
    return EXIT_OK


def install_sigint_handler(on_interrupt: Any) -> None:
    signal.signal(signal.SIGINT, lambda *_: on_interrupt())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
