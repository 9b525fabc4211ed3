"""The speech corpus the tests, benchmarks and bundle smoke test read: declared once.

It lives in the repository (``tests/data``, see its README for provenance and licences), so a
clone needs nothing beside it. ``VERBATIM_CORPUS`` may point elsewhere, e.g. at a larger corpus
laid out the same way (audio files plus ``references.tsv``).
"""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(os.environ.get("VERBATIM_CORPUS") or Path(__file__).resolve().parent / "data")


def references(corpus: Path = CORPUS) -> dict[str, str]:
    """File name → reference text, from ``references.tsv`` (tab-separated, with a header)."""
    table = corpus / "references.tsv"
    if not table.is_file():
        raise FileNotFoundError(f"The speech corpus is missing: {table} not found.")
    lines = table.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:] if line]
    return {row["file"]: row["reference"] for row in rows}


def clips(corpus: Path = CORPUS) -> list[tuple[Path, str]]:
    """(path, reference) for every recording in the corpus, in the table's order."""
    return [(corpus / name, text) for name, text in references(corpus).items()]
