#!/usr/bin/env python3
"""Check the Markdown documentation against the repository. Exit 1 with a list of problems.

1. Configuration reference. Every key of config/default.toml has a row in
   docs/configuration.md, and every key a row names exists in config/default.toml.
   - A key is `section.key`, as TOML reads the file (tomllib): commented-out lines, such as the
     example under [permissions], are comments and not keys. A nested table adds its name:
     `section.table.key`.
   - A table that is empty in default.toml (today [permissions]) is a map whose keys the
     operator chooses. It is documented by one row with a placeholder, `section.<name>`
     (e.g. `permissions.<role>`), and such a row is only allowed for an empty table.
   - A reference row is a Markdown table row (`| ... |`) whose first cell holds the key in
     backticks, e.g. "| `server.bind` | ... |". Only the first cell is read.
2. Links. Every relative link in README.md, SECURITY.md, BENCHMARKS.md, TESTING.md (when
   present), deploy/**/*.md and docs/*.md points to a file or folder that exists inside the
   repository, and a `#anchor` (on a .md file, or alone for the same file) names a heading of
   that file, by GitHub's rule: lowercase; drop every character that is not a letter, digit,
   space, `-` or `_`; spaces become `-`; a repeated heading gets `-1`, `-2`, ... Links in code
   blocks and code spans are not links. http(s) and mailto links are not checked (no network).
3. README.md stays a front door: at most README_MAX_LINES lines.
4. The code snippets that tests/interop/run.sh runs (tests/interop/snippets/) appear verbatim in
   the docs page that shows them, as tests/api/openapi.rs checks for README.md.
5. The login APIs are named for what they are: README.md and docs/*.md do not use the word
   "seed" (the old name of the API contract documents).

Usage: docs_check.py   (from anywhere; paths are relative to the repository root)
"""
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = ROOT / "config" / "default.toml"
REFERENCE = ROOT / "docs" / "configuration.md"
README_MAX_LINES = 300
SNIPPETS = {
    "docs/verifying-tokens.md": ["verify.py", "verify.mjs", "nginx.conf"],
    "docs/oauth.md": ["oauth_authlib.py", "oauth_requests_oauthlib.py", "oauth_client.mjs"],
}

ROW_KEY = re.compile(r"^\|\s*`([a-z0-9_]+(?:\.[a-z0-9_<>-]+)+)`")
PLACEHOLDER = re.compile(r"^(.*)\.<[a-z_-]+>$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def config_keys(table: dict, prefix: str = "") -> tuple:
    """(keys, maps): every `section.key`, and the empty tables, which are documented as maps."""
    keys, maps = set(), set()
    for name, value in table.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            if value:
                k, m = config_keys(value, path + ".")
                keys |= k
                maps |= m
            else:
                maps.add(path)
        else:
            keys.add(path)
    return keys, maps


def reference_keys(text: str) -> dict:
    """Key -> line number, for each table row that names a key in its first cell."""
    found = {}
    in_code = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = None if in_code else ROW_KEY.match(line)
        if m:
            found.setdefault(m.group(1), n)
    return found


def check_reference() -> list:
    problems = []
    with DEFAULTS.open("rb") as f:
        keys, maps = config_keys(tomllib.load(f))
    if not REFERENCE.exists():
        return [f"{REFERENCE.relative_to(ROOT)} is missing"]
    documented = reference_keys(REFERENCE.read_text(encoding="utf-8"))
    ref = REFERENCE.relative_to(ROOT)
    for key in sorted(keys):
        if key not in documented:
            problems.append(f"{ref}: no row for `{key}` (config/default.toml has it)")
    for table in sorted(maps):
        if not any(PLACEHOLDER.match(k) and PLACEHOLDER.match(k).group(1) == table for k in documented):
            problems.append(f"{ref}: no row `{table}.<name>` for the map [{table}] (config/default.toml has it)")
    for key, line in sorted(documented.items(), key=lambda kv: kv[1]):
        m = PLACEHOLDER.match(key)
        if m:
            if m.group(1) not in maps:
                problems.append(f"{ref}:{line}: `{key}`: [{m.group(1)}] is not an empty table (a map) in config/default.toml")
        elif key not in keys:
            problems.append(f"{ref}:{line}: `{key}` is not a key of config/default.toml")
    return problems


def slug(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text)                         # inline HTML
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set:
    seen, out = {}, set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = None if in_code else HEADING.match(line)
        if m:
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
        for a in re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line):
            out.add(a)
    return out


def links(path: Path):
    """(line number, target) for each link outside code."""
    in_code = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        text = CODE_SPAN.sub("", line)
        for m in LINK.finditer(text):
            yield n, m.group(1)
        m = REF_DEF.match(text)
        if m:
            yield n, m.group(1)


def pages() -> list:
    names = ["README.md", "SECURITY.md", "BENCHMARKS.md", "TESTING.md"]
    out = [ROOT / n for n in names if (ROOT / n).exists()]
    out += sorted((ROOT / "deploy").rglob("*.md"))
    out += sorted((ROOT / "docs").glob("*.md"))
    return out


def check_links() -> list:
    problems = []
    cache = {}
    for page in pages():
        rel = page.relative_to(ROOT)
        for line, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            where, _, anchor = target.partition("#")
            dest = (page.parent / where).resolve() if where else page
            try:
                dest.relative_to(ROOT)
            except ValueError:
                problems.append(f"{rel}:{line}: {target}: outside the repository")
                continue
            if not dest.exists():
                problems.append(f"{rel}:{line}: {target}: no such file or folder")
                continue
            if anchor and dest.suffix == ".md":
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if anchor not in cache[dest]:
                    problems.append(f"{rel}:{line}: {target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
            elif anchor and dest.is_file() and dest.suffix != ".md":
                pass  # line anchors (#L10) on source files are GitHub's; not checked
    return problems


def check_readme() -> list:
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    if n > README_MAX_LINES:
        return [f"README.md: {n} lines, more than {README_MAX_LINES}: move the details to docs/"]
    return []


def check_snippets() -> list:
    problems = []
    for page, names in SNIPPETS.items():
        text = (ROOT / page).read_text(encoding="utf-8") if (ROOT / page).exists() else ""
        for name in names:
            snippet = (ROOT / "tests" / "interop" / "snippets" / name).read_text(encoding="utf-8").rstrip()
            if snippet not in text:
                problems.append(f"{page}: does not show tests/interop/snippets/{name} as it is")
    return problems


def check_names() -> list:
    problems = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bseeds?\b", line, re.I):
                problems.append(f"{page.relative_to(ROOT)}:{n}: says \"seed\"; name the login API instead")
    return problems


def main() -> int:
    checks = [
        ("configuration reference", check_reference),
        ("links", check_links),
        ("README length", check_readme),
        ("interop snippets", check_snippets),
        ("login API names", check_names),
    ]
    failed = False
    for name, check in checks:
        problems = check()
        if problems:
            failed = True
            print(f"FAIL: {name}:")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"ok: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
