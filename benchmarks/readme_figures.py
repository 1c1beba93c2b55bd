"""README's figures and claims, rendered from the result files so that they cannot drift.

    python benchmarks/readme_figures.py            # rewrite README's marked passages
    python benchmarks/readme_figures.py --check    # exit 1 where README differs from results/

Every passage of README.md between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->` is
rendered from results/*.json by toontag.benchmark.readme (figures, their intervals by
sequence where a file has them, else by frame, and who computed them).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from toontag.benchmark.readme import render_readme, stale_blocks
from toontag.io import write_text

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args()
    text = args.readme.read_text()
    fresh = render_readme(text, results=args.results)
    if not args.check:
        if fresh != text:
            write_text(args.readme, fresh)
        print(f"{args.readme}: {'rendered' if fresh != text else 'already up to date'}")
        return 0
    stale = stale_blocks(text, results=args.results)
    if not stale:
        print(f"{args.readme}: every figure matches results/")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            text.splitlines(keepends=True), fresh.splitlines(keepends=True), "README", "rendered"
        )
    )
    print(
        f"error: {args.readme}: figures differ from results/ in {', '.join(stale)} "
        "(run python benchmarks/readme_figures.py)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
