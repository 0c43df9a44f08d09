"""The API appendix: one page per module of ``deepref``, generated at each build.

The list of modules is not typed by hand: every top-level module of the package
that imports gets a page (a module that does not import yet is left out with a
message in the log), and so does every public namespace inside a package, such
as ``deepref.nn.init``, whose functions the package does not re-export. A page
lists every public name of its module in a summary table (the first paragraph of
its docstring), then documents each
one from its numpydoc docstring (``sphinx.ext.napoleon``), and the module's public
constants (``landscape.ROSENBROCK``, ``rnn.ADDING_BASELINE_MSE``) from the docstring
that follows their assignment in the source.

Every parameter of every documented callable is listed: a parameter that the
docstring's ``Parameters`` section leaves out is added to it, with its annotation
and default, by :func:`complete_parameters` (``autodoc-process-docstring``, before
napoleon reads the section); the build logs how many were added.

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
import sys
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


def public_constants(module: ModuleType) -> list[str]:
    """Public constants of a module: upper-case names it exports that are not callables or modules."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if _is_public(name)]
    return [name for name in names
            if name.isupper() and hasattr(module, name)
            and not (callable(getattr(module, name)) or inspect.ismodule(getattr(module, name)))]


def constant_doc(module: ModuleType, name: str) -> list[str]:
    """The docstring written after ``name = ...`` in ``module`` or the submodule that defines it."""
    from sphinx.pycode import ModuleAnalyzer

    candidates = [module] + [m for key, m in sorted(sys.modules.items())
                             if m is not None and key.startswith(module.__name__ + ".")]
    for candidate in candidates:
        if getattr(candidate, name, None) is not getattr(module, name):
            continue
        try:
            docs = ModuleAnalyzer.for_module(candidate.__name__).find_attr_docs()
        except Exception:  # no source (a compiled module)
            continue
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line is not None]
    return []


def _short_value(value) -> str | None:
    """The value of a constant, when it reads in one short line (numbers, strings, tuples of them)."""
    if isinstance(value, (int, float, str, tuple)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 60 else None
    return None


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
    constants = public_constants(module)
    lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", ""]
    if not (names or constants):
        return "\n".join(lines) + "\n"
    lines += [f".. currentmodule:: {name}", ""]
    if names:
        # a numbered, captioned table like every table of the book; its box scrolls on a phone
        lines += [".. list-table:: Public functions and classes", f"   :name: api-summary-{name}",
                  "   :widths: 30 70", "   :class: deepref-api-summary", ""]
        for entry in names:
            lines += [f"   * - :py:obj:`{entry}`", f"     - {summary(getattr(module, entry)) or ' '}"]
        lines += [""]
    lines += [".. rubric:: Reference", ""]
    for entry in constants:
        value = _short_value(getattr(module, entry))
        lines += [f".. py:data:: {entry}"] + ([f"   :value: {value}"] if value else []) + [""]
        lines += [f"   {line}" if line else "" for line in constant_doc(module, entry)] + [""]
    for entry in names:
        obj = getattr(module, entry)
        if inspect.isclass(obj):
            lines += [f".. autoclass:: {entry}", "   :members:", "   :show-inheritance:", ""]
        else:
            lines += [f".. autofunction:: {entry}", ""]
    return "\n".join(lines) + "\n"


_SECTION_RULE = re.compile(r"^\s*-{3,}\s*$")
_PARAMETER_SECTIONS = {"parameters", "other parameters", "keyword arguments", "keyword args"}


def _sections(lines: list[str]) -> list[tuple[str, int]]:
    """(title, line index) of each numpydoc section header (a title over a line of dashes)."""
    return [(lines[i].strip().lower(), i) for i in range(len(lines) - 1)
            if lines[i].strip() and _SECTION_RULE.match(lines[i + 1])
            and len(lines[i + 1].strip()) >= len(lines[i].strip()) - 1]


def documented_parameters(lines: list[str]) -> set[str]:
    """Names in a numpydoc docstring's Parameters (and Other Parameters) sections."""
    found: set[str] = set()
    sections = _sections(lines) + [("", len(lines))]
    for (title, start), (_, end) in zip(sections, sections[1:]):
        if title not in _PARAMETER_SECTIONS:
            continue
        for line in lines[start + 2:end]:
            if line.strip() and not line.startswith((" ", "\t")):
                names = line.split(" : ")[0] if " : " in line else line.split(":")[0]
                found.update(n.strip().lstrip("*").replace("\\", "").lstrip("*") for n in names.split(","))
    return found


def signature_parameters(obj, what: str) -> list[inspect.Parameter]:
    """The parameters a caller passes to ``obj`` (``self`` and ``cls`` left out); [] if it has none."""
    if what not in ("function", "method", "class", "exception", "decorator"):
        return []
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    params = list(signature.parameters.values())
    if params and params[0].name in ("self", "cls") and what == "method":
        params = params[1:]
    return params


def _parameter_line(param: inspect.Parameter) -> str:
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(param.kind, "")
    kind = []
    if param.annotation is not inspect.Parameter.empty:
        annotation = param.annotation
        kind.append(annotation if isinstance(annotation, str) else inspect.formatannotation(annotation))
    if param.default is not inspect.Parameter.empty:
        kind.append(f"default {param.default!r}")
    return f"{stars}{param.name}" + (f" : {', '.join(kind)}" if kind else "")


def complete_parameters(obj, what: str, lines: list[str]) -> list[str]:
    """Add the parameters of ``obj`` that its numpydoc ``lines`` leave out; return their names.

    A missing parameter gets a line ``name : annotation, default value`` at the end
    of the Parameters section, which is created (before the first other section)
    where there is none. ``lines`` is changed in place.
    """
    params = signature_parameters(obj, what)
    documented = documented_parameters(lines)
    missing = [p for p in params if p.name not in documented]
    if not missing:
        return []
    new = [_parameter_line(p) for p in missing]
    sections = _sections(lines)
    own = [(title, i) for title, i in sections if title == "parameters"]
    if own:
        start = own[0][1]
        later = [i for _, i in sections if i > start]
        end = later[0] if later else len(lines)
        while end > start + 2 and not lines[end - 1].strip():
            end -= 1
        lines[end:end] = new
    else:
        at = sections[0][1] if sections else len(lines)
        block = ["Parameters", "----------", *new, ""]
        if at > 0 and lines[at - 1].strip():
            block.insert(0, "")
        lines[at:at] = block
    return [p.name for p in missing]


_ADDED: dict[str, list[str]] = {}


def _complete_docstring(app, what, name, obj, options, lines) -> None:
    if not name.startswith(PACKAGE + "."):
        return
    added = complete_parameters(obj, what, lines)
    if added:
        _ADDED[name] = added


def _report_added(app, exception) -> None:
    if _ADDED:
        count = sum(map(len, _ADDED.values()))
        logger.info(f"[apiref] {count} parameters of {len(_ADDED)} callables are not described in their "
                    "docstrings; listed with their annotation and default")


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
    app.connect("autodoc-process-docstring", _complete_docstring, priority=400)  # napoleon: 500
    app.connect("build-finished", _report_added)
    app.connect("env-updated", _forget_index)
    app.add_post_transform(LinkApiNames)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
