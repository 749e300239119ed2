"""Griffe extension: webly's docstrings in Markdown for mkdocstrings.

webly's docstrings are numpydoc with Sphinx cross-reference roles (``:class:`SMILClassifier```,
``:func:`~webly.solvers.primal.svmplus_primal```) and reST citations (``.. [1] ...``), the
conventions of scikit-learn. mkdocstrings renders docstrings as Markdown, where a role would
show as literal text, so this extension rewrites them once the package is loaded:

* a role becomes an optional cross-reference (``<autoref identifier="..." optional>``) to the
  object's canonical path, resolved from the docstring's own scope as Sphinx would; it links
  where the target has an API page and is plain code otherwise (no warning either way);
* ``.. [1] text`` citations become ``[1] text`` paragraphs;
* an inline literal wrapped over two lines is joined onto one (Markdown code spans end at the
  end of a line);
* each documented parameter shows its default from the signature and its choices as written:
  griffe's numpy parser gives every name of a grouped line (``kernel, gamma, gamma_scale``) the
  first name's default, and a choice type (``{"hinge", "squared_hinge"}, default="squared_hinge"``)
  its first choice as default, shown as ``(hinge, squared_hinge)``;
* a class whose docstring is built at import time (``__doc__ = "..." + _SHARED``, to share
  parameter text between classes) gets its runtime docstring, which static analysis cannot see.

Loaded by mkdocs.yml (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

import html
import inspect
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`([^`]+)`")
CITATION = re.compile(r"^(\s*)\.\. (\[[^\]]+\])\s", flags=re.MULTILINE)
LITERAL = re.compile(r"``(.*?)``", flags=re.DOTALL)  # pairs in order, as reST reads them


def _one_line(match):
    text = match.group(1)
    if "\n" not in text or re.search(r"\n[ \t]*\n", text):  # one line, or not one literal
        return match.group(0)
    return "``" + " ".join(text.split()) + "``"



def _lookup(collection, path):
    try:
        obj = collection.get_member(path)
    except (KeyError, ValueError, AttributeError):
        return None
    try:
        return obj.canonical_path if obj.is_alias and obj.resolved else obj.path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return path


def _resolve(obj, target, collection):
    """The canonical dotted path ``target`` names from the scope of ``obj`` (None if unknown)."""
    head, _, rest = target.partition(".")
    if head in collection.members:  # already absolute: webly.x.y
        return _lookup(collection, target)
    scope = obj
    while scope is not None:  # relative: a member of the object, its module or a parent
        try:
            base = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError):
            base = None
        if base is not None:
            return _lookup(collection, f"{base}.{rest}" if rest else base) or base
        scope = scope.parent
    return None


def _role_to_autoref(obj, collection):
    def replace(match):
        text = match.group(1).strip()
        explicit = re.fullmatch(r"(.+?)\s*<(.+)>", text)  # :class:`title <target>`
        if explicit:
            title, target = explicit.groups()
        else:
            target = text.lstrip("~.")
            title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
        target = target.lstrip("~.")
        if title.endswith("()"):
            title, target = title, target.removesuffix("()")
        path = _resolve(obj, target, collection) or target
        return (f'<autoref identifier="{html.escape(path)}" optional>'
                f"<code>{html.escape(title)}</code></autoref>")
    return replace


CHOICES = re.compile(r"^\s*(\w+(?:, \w+)*) : (\{[^}]*\})", flags=re.MULTILINE)


class _SignatureDefaults(griffe.Docstring):
    """A docstring whose parsed parameters take their defaults from the signature.

    Parsed when a page renders it (so only rendered docstrings are parsed, and warn)."""

    def parse(self, parser=None, **options):
        sections = super().parse(parser, **options)
        obj = self.parent
        try:
            signature = obj.parameters
        except (griffe.AliasResolutionError, KeyError, AttributeError):
            signature = {}
        choices = {name: braces for names, braces in CHOICES.findall(self.value)
                   for name in names.split(", ")}
        for section in sections:
            if section.kind not in (griffe.DocstringSectionKind.parameters,
                                    griffe.DocstringSectionKind.attributes):
                continue
            for item in section.value:
                if item.name in choices:
                    item.annotation = choices[item.name]
                if section.kind is griffe.DocstringSectionKind.parameters and (
                        item.name in signature):
                    item.value = signature[item.name].default
        return sections


class SphinxRolesToMarkdown(griffe.Extension):
    """Rewrite Sphinx roles and reST citations in every docstring of the loaded package."""

    def on_package(self, *, pkg, loader, **kwargs):
        collection = loader.modules_collection
        seen = set()

        def walk(obj):
            if obj.is_alias or id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.is_class and "__doc__" in obj.members:  # built at import time
                runtime = inspect.getdoc(griffe.dynamic_import(obj.path))
                obj.docstring = griffe.Docstring(
                    runtime, lineno=obj.lineno, parent=obj, parser=loader.docstring_parser,
                    parser_options=loader.docstring_options)
                del obj.members["__doc__"]
            if obj.docstring is not None:
                value = ROLE.sub(_role_to_autoref(obj, collection),
                                 LITERAL.sub(_one_line, obj.docstring.value))
                obj.docstring.value = CITATION.sub(r"\1\2 ", value)
                if obj.is_class or obj.is_function:
                    obj.docstring.__class__ = _SignatureDefaults
            for member in obj.members.values():
                walk(member)

        walk(pkg)
