"""``verbatim``: the desktop application's entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from desktop_app import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verbatim", description="Verbatim: private, offline speech-to-text (desktop window)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("files", nargs="*", help="audio or video files to queue at start")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("The Verbatim window is not built yet; use verbatim-cli transcribe.", file=sys.stderr)
    return 0
