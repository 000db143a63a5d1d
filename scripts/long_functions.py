#!/usr/bin/env python3
"""Lists function bodies longer than a limit (default 120 lines) in C++ sources.

usage: scripts/long_functions.py [--limit N] [DIR ...]   (default: src tools)

A rough brace scanner, not a parser: comments and string literals are blanked, then a block
opened right after a parameter list ")" (optionally const/override/noexcept/-> T) whose
enclosing blocks are all namespaces or classes is a function; its length is counted from the
line of its "{" to the line of its "}". Kernels (src/ops/x86, *_avx2.cpp, *_avx512.cpp) are
listed too; judge them by hand.
"""
import argparse
import os
import re


def blank(src):
    src = re.sub(r'R"(\w*)\((.*?)\)\1"', lambda m: '""' + "\n" * m.group(0).count("\n"), src,
                 flags=re.S)
    src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    src = re.sub(r'"(\\.|[^"\\\n])*"', '""', src)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", src)


def long_functions(path, limit):
    s = blank(open(path, errors="replace").read())
    stack, line, out = [], 1, []
    for i, c in enumerate(s):
        if c == "\n":
            line += 1
        elif c == "{":
            head = re.split(r"[;{}]", s[max(0, i - 300):i])[-1]
            if re.search(r"\b(namespace|class|struct|union|enum)\b", head) and "(" not in head:
                kind = "scope"
            elif (re.search(r"\)\s*(const|override|noexcept|final|mutable|->\s*[\w:<>,\s*&]+|\s)*$",
                            head) and not re.search(r"\b(if|for|while|switch|catch)\s*\(", head)):
                kind = "function" if all(k == "scope" for k, _, _ in stack) else "block"
            else:
                kind = "block"
            stack.append((kind, line, " ".join(head.split())[:90]))
        elif c == "}" and stack:
            kind, first, head = stack.pop()
            if kind == "function" and line - first + 1 > limit:
                out.append((line - first + 1, path, first, head))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("dirs", nargs="*", default=["src", "tools"])
    args = ap.parse_args()
    found = []
    for d in args.dirs:
        for root, _, files in os.walk(d):
            for f in files:
                if f.endswith((".cpp", ".h", ".inc", ".cc")):
                    found += long_functions(os.path.join(root, f), args.limit)
    for n, path, first, head in sorted(found, reverse=True):
        print("%5d  %s:%d  %s" % (n, path, first, head))


if __name__ == "__main__":
    main()
