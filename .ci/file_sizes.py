#!/usr/bin/env python3
"""Refuse Rust files that grew past LIMIT lines without saying why they are one piece.

Every *.rs file under the given folders (default: src and verify/src) longer than LIMIT
lines must have, in its first HEAD lines, a comment line (`//`, `//!`, `///` or inside
`/* */`) containing the words "one piece" and the reason, e.g.

    //! One piece because the two stores share every private helper below.

Anything else fails the check (exit 1), naming each file and its length. Line counts are
what `wc -l` counts. Run from anywhere: paths are relative to the repository root.

Usage: file_sizes.py [DIR ...]
"""
import sys
from pathlib import Path

LIMIT = 800
HEAD = 15
ROOT = Path(__file__).resolve().parent.parent


def says_why(lines: list) -> bool:
    for line in lines[:HEAD]:
        text = line.strip()
        if text.startswith(("//", "/*", "*")) and "one piece" in text.lower():
            return True
    return False


def main(argv: list) -> int:
    dirs = argv or ["src", "verify/src"]
    failures = []
    checked = 0
    for d in dirs:
        base = ROOT / d
        if not base.is_dir():
            print(f"file_sizes: no folder {d}", file=sys.stderr)
            return 2
        for path in sorted(base.rglob("*.rs")):
            checked += 1
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) > LIMIT and not says_why(lines):
                failures.append((path.relative_to(ROOT), len(lines)))
    if failures:
        print(f"FAIL: files over {LIMIT} lines without a comment in their first {HEAD} lines "
              f"saying why they are \"one piece\":")
        for path, n in failures:
            print(f"  {path}: {n} lines")
        print("Split the file, or say at its top why it is one piece (e.g. `//! One piece because ...`).")
        return 1
    print(f"ok: {checked} files under {', '.join(dirs)}; none over {LIMIT} lines without a reason")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
