"""MkDocs hooks: include repository Markdown files in pages, with their links rebased.

A page line ``--8<-- "FILE.md"`` (or ``--8<-- "FILE.md:name"`` for the part of FILE.md between
the markers ``<!-- --8<-- [start:name] -->`` and ``<!-- --8<-- [end:name] -->``) is replaced by
that Markdown, FILE.md being relative to the repository root. This is pymdownx.snippets' syntax
(which still includes every other file, e.g. the example scripts in code blocks), done here so
that the included file's relative links are rebased: a link that reaches a file under docs/
points at it from the including page, and a link to any other repository file (a dataset's
PROVENANCE.md, a test) becomes its repository path in code, as the site does not publish it.
The pages' own links that leave docs/ are treated the same way.

Loaded by mkdocs.yml (``hooks``).
"""

import os
import posixpath
import re

INCLUDE = re.compile(r'^--8<-- "([^":]+\.md)(?::([\w-]+))?"\s*$', flags=re.MULTILINE)
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"(^ *```.*?^ *```[ \t]*$)", flags=re.MULTILINE | re.DOTALL)


def _section(text, name, path):
    start = f"<!-- --8<-- [start:{name}] -->"
    end = f"<!-- --8<-- [end:{name}] -->"
    if start not in text or end not in text:
        raise ValueError(f"{path}: no section {name!r} (markers {start} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def _rebase(markdown, source_dir, page_dir):
    """Rewrite the relative links of ``markdown`` written from repository folder ``source_dir``
    for a page in docs folder ``page_dir`` (both repository-relative, POSIX)."""

    def replace(match):
        bang, text, target = match.groups()
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target):  # a URL, an anchor, absolute
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(source_dir, path))
        if repo_path == "docs" or repo_path.startswith("docs/"):
            new = posixpath.relpath(repo_path, page_dir) + (f"#{anchor}" if anchor else "")
            return f"{bang}[{text}]({new})"
        if bang:
            return f"*(figure `{repo_path}`, not in the site)*"
        return f"`{repo_path}`" if text.strip("`") == repo_path else f"{text} (`{repo_path}`)"

    parts = FENCE.split(markdown)  # links in code blocks are code: odd parts are fences
    return "".join(p if i % 2 else LINK.sub(replace, p) for i, p in enumerate(parts))


def on_page_markdown(markdown, page, config, files, **kwargs):
    root = os.path.dirname(os.path.abspath(config["config_file_path"]))
    docs = os.path.relpath(config["docs_dir"], root).replace(os.sep, "/")
    page_dir = posixpath.dirname(posixpath.join(docs, page.file.src_uri))

    def include(match):
        path, name = match.groups()
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        if name:
            text = _section(text, name, path)
        return _rebase(text, posixpath.dirname(path), page_dir)

    own = _rebase(markdown, page_dir, page_dir)  # the page's own links that leave docs/
    return INCLUDE.sub(include, own)
