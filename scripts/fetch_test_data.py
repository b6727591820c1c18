#!/usr/bin/env python
"""Fetch (once) the real NanoAOD/PFNano files that coffea ships in its sdist, and print where they are.

Usage: ``python scripts/fetch_test_data.py [--dest DIR] [--sdist coffea-2026.9.0.tar.gz]``.
The logic lives in ``tests/testdata.py`` (not in the installed package: only the test suite needs it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.testdata

from hepadv.errors import DataError
from tests.testdata import SAMPLES, default_dir, ensure_test_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help=f"cache folder (default: {default_dir()})")
    parser.add_argument("--sdist", type=Path, default=None, help="use an already downloaded coffea sdist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        dest = ensure_test_data(args.dest, sdist=args.sdist)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"test data in {dest}")
    for name in SAMPLES:
        print(f"  {dest / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
