#!/usr/bin/env python3
"""Fails when two modules of a crate import each other (directly or through a longer cycle).

Reads every `use crate::...` and `use super::...` line of each crate's `src/`, resolves it to the module it
names (the longest existing module path), and looks for cycles between modules that are not each other's
ancestor (a parent declaring its children and a child using its parent's items is how Rust modules work).
Usage: scripts/check-module-cycles.py [CRATE_DIR...] (default: every crate in crates/ and the root package).
"""
import pathlib
import re
import sys

USE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+((?:crate|super)\b[^;]*);", re.M)


def paths(tree: str) -> list:
    """`a::{b, c::{d}}` -> ["a::b", "a::c::d"]: every path a use tree names."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree.split(" as ")[0]]
    head, body = tree.split("{", 1)
    body = body[: body.rindex("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [p for item in items if item for p in paths(head + item)]


def module_of(src: pathlib.Path, file: pathlib.Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def graph(src: pathlib.Path) -> dict:
    files = {module_of(src, f): f for f in src.rglob("*.rs")}
    modules = set(files)
    edges = {m: set() for m in modules}
    for module, file in files.items():
        # A file's own `super` is its parent module (for mod.rs, the directory's parent).
        for path in (p for tree in USE.findall(file.read_text()) for p in paths(tree)):
            segments = [s for s in path.split("::") if s and s != "self"]
            if segments[0] == "crate":
                target, rest = (), segments[1:]
            else:
                target = module
                rest = segments
                while rest and rest[0] == "super":
                    target = target[:-1]
                    rest = rest[1:]
            for seg in rest:
                if target + (seg,) in modules:
                    target = target + (seg,)
                else:
                    break
            related = target[: len(module)] == module or module[: len(target)] == target
            if target != module and not related:
                edges[module].add(target)
    return edges


def cycles(edges: dict) -> list:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    crates = [pathlib.Path(a) for a in sys.argv[1:]] or [root] + sorted((root / "crates").iterdir())
    bad = 0
    for crate in crates:
        src = crate / "src"
        if not src.is_dir():
            continue
        edges = graph(src)
        depth = max((len(m) for m in edges), default=0)
        seen = set()
        # File by file, then with every module taken together with its submodules (`endpoints`
        # importing `invoke` while `invoke::x` imports `endpoints::y` is a cycle too).
        for level in [None] + list(range(1, depth)):
            collapsed = {}
            for module, targets in edges.items():
                cut = module if level is None else module[:level]
                for target in targets:
                    target = target if level is None else target[:level]
                    if cut != target and cut[: len(target)] != target and target[: len(cut)] != cut:
                        collapsed.setdefault(cut, set()).add(target)
            for cycle in cycles(collapsed):
                key = frozenset(cycle)
                if key in seen:
                    continue
                seen.add(key)
                bad += 1
                names = " -> ".join("::".join(m) or "crate" for m in cycle)
                print(f"{crate.name}: modules import each other: {names}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
