"""Lines of code of a git revision: lines with code on them (not blank, not only a comment, not a
docstring) of the Python files under the given folders.

    .venv/bin/python bench/code_lines.py f45ccc6 HEAD                 # equiv, app_pages, app.py
    .venv/bin/python bench/code_lines.py f45ccc6 HEAD --in tests

Written here rather than taken from a tool (cloc, pygount): neither tells docstrings from code,
and docstrings are most of what this project's modules say.
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import tokenize

_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers of the module's, classes' and functions' docstrings."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def code_lines(source: str) -> int:
    """Lines of ``source`` that carry code."""
    docs = docstring_lines(ast.parse(source))
    code: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in _NOT_CODE:
            code.update(line for line in range(tok.start[0], tok.end[0] + 1) if line not in docs)
    return len(code)


def count(revision: str, folders: list[str]) -> int:
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", revision, "--", *folders],
                           capture_output=True, text=True, check=True).stdout.split()
    return sum(code_lines(subprocess.run(["git", "show", f"{revision}:{name}"], capture_output=True, text=True,
                                         check=True).stdout) for name in names if name.endswith(".py"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("revisions", nargs="+", help="git revisions to count")
    p.add_argument("--in", dest="folders", nargs="+", default=["equiv", "app_pages", "app.py"],
                   help="folders and files to count (default: equiv app_pages app.py)")
    args = p.parse_args()
    for revision in args.revisions:
        print(f"{revision}: {count(revision, args.folders):,} code lines in {' '.join(args.folders)}")


if __name__ == "__main__":
    main()
