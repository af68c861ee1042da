"""Size of the browser SDK: builds sdk/ with esbuild and prints the bundle's bytes.

    make bench-sdk        # or: .venv/bin/python bench/sdk_size.py

Prints the source size, the minified bundle (static/sdk/pulseboard.js) and the bundle
gzipped at levels 6 (what most servers send) and 9, against the 3 KB gzipped budget that
apps/ingest/tests/test_sdk.py enforces. Nothing else is measured.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "static" / "sdk" / "pulseboard.js"
BUDGET = 3 * 1024


def main() -> None:
    subprocess.run(["node", "sdk/build.mjs"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    sources = sorted(ROOT.joinpath("sdk", "src").glob("*.js"))
    code = BUNDLE.read_bytes()
    rows = [
        (f"source ({len(sources)} files, sdk/src)", sum(p.stat().st_size for p in sources)),
        ("minified (static/sdk/pulseboard.js)", len(code)),
        ("minified + gzip -6", len(gzip.compress(code, compresslevel=6))),
        ("minified + gzip -9", len(gzip.compress(code, compresslevel=9))),
    ]
    width = max(len(label) for label, _ in rows)
    for label, size in rows:
        print(f"{label:<{width}}  {size:>6,} bytes")
    gzipped = rows[-1][1]
    print(f"{'budget (gzip -9)':<{width}}  {BUDGET:>6,} bytes  ({gzipped / BUDGET:.0%} used)")


if __name__ == "__main__":
    main()
