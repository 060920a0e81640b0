#!/usr/bin/env python3
"""Refuse import cycles between the files of a crate's src/.

A file A imports B when A names a path into B (`use crate::x::y`, `super::y`, `self::y`,
an inline `crate::x::y::Z`, or a child module by its bare name, `child::Z`). `mod` declarations are not imports: a parent declaring its
children is the module tree, not a dependency. A cycle A -> ... -> A between files is
reported with its path and fails the check (exit 1).

Usage: module_cycles.py SRC_DIR [SRC_DIR ...]
"""
import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def check(src: Path) -> list:
    files = {module_of(src, f): f for f in src.rglob("*.rs") if f.name != "main.rs"}
    edges = {m: set() for m in files}

    def resolve(base: tuple, segments: list):
        # The longest prefix of base + segments that is a file's module.
        full = list(base) + segments
        for n in range(len(full), -1, -1):
            if tuple(full[:n]) in files:
                return tuple(full[:n])
        return None

    for mod, file in files.items():
        is_dir_module = file.name in ("mod.rs", "lib.rs")
        here = mod if is_dir_module else mod  # `self` is the module itself
        parent = mod[:-1]
        text = strip_comments(file.read_text())
        text = text.split("#[cfg(test)]")[0]  # unit tests may use anything
        paths = []
        for root, prefix, group in USE_GROUP.findall(text):
            for item in re.split(r",\s*", group):
                item = item.strip().split(" as ")[0]
                if item:
                    paths.append((root, prefix + "::" + item.replace("{", "").replace("}", "")))
        paths += PATH.findall(text)
        # A child module named by its bare name (`login::login` in `http/mod.rs`).
        for child in (m for m in files if len(m) == len(mod) + 1 and m[:-1] == mod):
            if re.search(r"(?<![:\w])" + child[-1] + r"::", text):
                edges[mod].add(child)
        for root, rest in paths:
            segments = [s for s in rest.split("::") if s and s not in ("self", "*")]
            base = {"crate": (), "super": parent, "self": here}[root]
            while segments and segments[0] == "super":
                base, segments = base[:-1], segments[1:]
            target = resolve(base, segments)
            if target is not None and target != mod:
                edges[mod].add(target)

    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return [" -> ".join("::".join(m) or "crate" for m in c) for c in cycles], sum(map(len, edges.values()))


def main() -> int:
    failed = False
    for arg in sys.argv[1:]:
        cycles, n = check(Path(arg))
        for c in cycles:
            print(f"FAIL: import cycle in {arg}: {c}")
            failed = True
        if not cycles:
            print(f"ok: {arg}: no import cycles ({n} imports between files)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
