#!/usr/bin/env python3
"""Lists circular imports between the modules of a directory of Rust modules (default: the transport
crate and smemu-api's wire/): module A imports B when A's code (tests left out) names `super::B`,
`crate::B` (or `crate::wire::B`), or, in lib.rs/mod.rs, a child module `B::`; a `super::item` or
`crate::item` that is no module is an import of the parent (mod.rs, lib.rs). Exits 1 on any cycle.
Usage: scripts/import-cycles.py [DIR PREFIX]...  (PREFIX: how the crate names DIR, e.g. crate::wire)"""
import os
import re
import sys


def strip(text):
    # Tests may import anything from their own module; they are left out, and so are comments.
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
    return re.sub(r"//[^\n]*", "", text)


def names_after(text, pos):
    """The first path segments at `pos`: `a` of `a::x`, or each of `{a, b::c}`."""
    if text[pos] == "{":
        depth, end = 0, pos
        for end in range(pos, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        inner, parts, depth, cur = text[pos + 1 : end], [], 0, ""
        for ch in inner:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        parts.append(cur)
        return [re.match(r"\s*(\w+)", p).group(1) for p in parts if p.strip()]
    m = re.match(r"\w+", text[pos:])
    return [m.group(0)] if m else []


def graph(directory, prefix):
    files = sorted(f for f in os.listdir(directory) if f.endswith(".rs"))
    root = "lib" if "lib.rs" in files else "mod"
    modules = {f[:-3] for f in files} - {root}
    edges = {}
    for f in files:
        me = f[:-3]
        text = strip(open(os.path.join(directory, f)).read())
        found = set()
        patterns = [r"\bsuper::"] if me != root else []
        patterns.append(re.escape(prefix) + "::")
        for pattern in patterns:
            for m in re.finditer(pattern, text):
                for name in names_after(text, m.end()):
                    found.add(name if name in modules else root)
        if me == root:
            for m in re.finditer(r"(?<![:\w])(\w+)::", text):
                if m.group(1) in modules:
                    found.add(m.group(1))
        found.discard(me)
        edges[me] = found
    return edges


def cycles(edges):
    out, stack, state = [], [], {}

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                out.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return out


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    args = sys.argv[1:] or [
        os.path.join(here, "crates/smemu-http1/src"), "crate",
        os.path.join(here, "crates/smemu-api/src/wire"), "crate::wire",
    ]
    bad = False
    for directory, prefix in zip(args[::2], args[1::2]):
        edges = graph(directory, prefix)
        print(f"{os.path.relpath(directory, here)}:")
        for module in sorted(edges):
            print(f"  {module} -> {', '.join(sorted(edges[module])) or '-'}")
        for cycle in cycles(edges):
            bad = True
            print("  CYCLE: " + " -> ".join(cycle))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
