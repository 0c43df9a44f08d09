"""The API appendix: one page per module of ``deepref``, generated at each build.

The list of modules is not typed by hand: every top-level module of the package
that imports gets a page (a module that does not import yet is left out with a
message in the log), and so does every public namespace inside a package, such
as ``deepref.nn.init``, whose functions the package does not re-export. A page
lists every public name of its module in a summary table (the first paragraph of
its docstring), then documents each
one from its numpydoc docstring (``sphinx.ext.napoleon``).

The pages are written to ``book/api/generated/`` (ignored by git) before Sphinx
reads the sources, and only when their text changed, so an unchanged module
does not make Sphinx re-read its page.

A second part links the chapters to these pages: inline code in a chapter that
names a documented object (```deepref.nn.Linear```, ```nn.Linear```, or a
name defined once in the library, such as ```linear_backward```) becomes a
link to its entry.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "deepref"
GENERATED = Path("api") / "generated"


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _defined_in(obj, package: str) -> bool:
    """Whether ``obj`` is a function or class of ``package`` (or one of its submodules)."""
    module = getattr(obj, "__module__", None) or ""
    return module == package or module.startswith(package + ".")


def public_names(module: ModuleType) -> list[str]:
    """Public functions and classes of a module, in source order of ``__all__``.

    A name counts when the module lists it in ``__all__`` (or, without
    ``__all__``, does not start with an underscore) and it is a function or
    class defined in this module or, for a package, in one of its submodules.
    Submodules and re-exports from elsewhere in the library are left out.
    """
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if _is_public(name)]
    public = []
    for name in names:
        obj = getattr(module, name, None)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        if _defined_in(obj, module.__name__):
            public.append(name)
    return public


def _namespaces(package: ModuleType) -> list[ModuleType]:
    """Public submodules of a package that are namespaces of their own.

    ``deepref.nn.init`` is one: the package re-exports none of its names, a user
    writes ``nn.init.kaiming_normal``. ``deepref.nn.linear`` is not: its names
    are documented as ``deepref.nn.Linear``, on the package's page.
    """
    exported = {id(getattr(package, name)) for name in public_names(package)}
    found = []
    for name in sorted(vars(package)):
        obj = getattr(package, name)
        if not (_is_public(name) and inspect.ismodule(obj)):
            continue
        if not obj.__name__.startswith(package.__name__ + "."):
            continue
        own = public_names(obj)
        if own and not any(id(getattr(obj, n)) in exported for n in own):
            found.append(obj)
    return found


def documented_modules(package_name: str = PACKAGE) -> list[ModuleType]:
    """Every module that gets a page: the importable top-level modules and their namespaces."""
    package = importlib.import_module(package_name)
    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if not _is_public(info.name):
            continue
        name = f"{package_name}.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # a module being written may not import yet
            logger.info(f"[apiref] no page for {name}: it does not import ({exc!r})")
            continue
        modules.append(module)
        if info.ispkg:
            modules.extend(_namespaces(module))
    return modules


def summary(obj) -> str:
    """The first paragraph of an object's docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def module_page(module: ModuleType) -> str:
    """The reStructuredText of one module's page: a summary table, then every entry.

    The table holds each docstring's whole first paragraph (autosummary's
    first-sentence cut can split inline code such as ``a -> ... -> b``).
    """
    name = module.__name__
    names = public_names(module)
    lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", ""]
    if not names:
        return "\n".join(lines) + "\n"
    lines += [f".. currentmodule:: {name}", "", ".. rubric:: Summary", "",
              ".. list-table::", "   :widths: 30 70", ""]
    for entry in names:
        lines += [f"   * - :py:obj:`{entry}`", f"     - {summary(getattr(module, entry)) or ' '}"]
    lines += ["", ".. rubric:: Reference", ""]
    for entry in names:
        obj = getattr(module, entry)
        if inspect.isclass(obj):
            lines += [f".. autoclass:: {entry}", "   :members:", "   :show-inheritance:", ""]
        else:
            lines += [f".. autofunction:: {entry}", ""]
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate_pages(app: Sphinx) -> None:
    """Write one page per documented module into ``<srcdir>/api/generated``."""
    outdir = Path(app.srcdir) / GENERATED
    outdir.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for module in documented_modules():
        wanted[f"{module.__name__}.rst"] = module_page(module)
    for stale in outdir.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()
    for filename, text in wanted.items():
        _write_if_changed(outdir / filename, text)


class LinkApiNames(SphinxPostTransform):
    """Turn inline code that names a documented library object into a link to its entry.

    Runs on the chapters, not on the API pages themselves. A literal matches by
    its full name (``deepref.nn.Linear``), by its name relative to the package
    (``nn.Linear``), or by a short name defined exactly once in the library
    (``linear_backward``); a trailing ``()`` is ignored.
    """

    default_priority = 5  # before Sphinx resolves pending cross-references

    def run(self, **kwargs) -> None:
        if self.env.docname.startswith(GENERATED.as_posix()):
            return
        index = _name_index(self.env)
        for literal in list(self.document.findall(nodes.literal)):
            if isinstance(literal.parent, (nodes.reference, pending_xref)) or "code" in literal["classes"]:
                continue
            text = literal.astext()
            target = index.get(re.sub(r"\(\)$", "", text))
            if target is None:
                continue
            ref = pending_xref("", refdomain="py", reftype="obj", reftarget=target,
                               refexplicit=True, refwarn=False)
            literal.replace_self(ref)
            ref += nodes.literal(text, text, classes=["xref", "py", "py-obj"])


def _name_index(env) -> dict[str, str]:
    """Map each way a chapter may write a library object's name to its full name.

    Every dotted tail of a full name that names one object or module
    (``nn.Linear``, ``init.kaiming_normal``, ``deepref.rnn``) and every bare name
    that does (``linear_backward``,
    ``SoftmaxCrossEntropy``; bare names only with an underscore or a capital,
    so that a word such as ``fit`` in the prose stays code).
    """
    cached = getattr(env, "_deepref_api_names", None)
    if cached is not None:
        return cached
    objects = env.get_domain("py").objects
    candidates: dict[str, set[str]] = {}
    for name in objects:
        if not name.startswith(PACKAGE + "."):
            continue
        parts = name.split(".")
        for start in range(len(parts)):
            tail = ".".join(parts[start:])
            bare = start == len(parts) - 1
            if bare and not ("_" in tail or tail[:1].isupper()):
                continue
            candidates.setdefault(tail, set()).add(name)
    index = {tail: names.pop() for tail, names in candidates.items() if len(names) == 1}
    env._deepref_api_names = index
    return index


def _forget_index(app: Sphinx, env) -> None:
    if hasattr(env, "_deepref_api_names"):
        del env._deepref_api_names


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", generate_pages)
    app.connect("env-updated", _forget_index)
    app.add_post_transform(LinkApiNames)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
