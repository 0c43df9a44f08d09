"""The import graph of deepref has no upward arrow: the core imports no chapter package.

The core is the library every chapter stands on (:data:`CORE`); the chapter
packages and the book's tooling sit above it. Every ``import`` statement of
every core module, including those inside functions, is read with :mod:`ast`
and resolved to an absolute module name.
"""

import ast
import pathlib

import pytest

import deepref

PACKAGE = pathlib.Path(deepref.__file__).parent
CORE = {"backend", "validation", "nn", "optim", "train", "data", "kernels", "gradcheck", "seeds"}
"""The core modules and packages of deepref (its first-level names)."""


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: pathlib.Path) -> bool:
    return path.name == "__init__.py"


def _imported(path: pathlib.Path) -> set[str]:
    """Absolute names of the deepref modules ``path`` imports (``from X import name`` counts X and X.name)."""
    module = _module_name(path)
    package = module if _is_package(path) else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "deepref" or name.startswith("deepref.")}


def _first_level(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _existing(name: str) -> bool:
    """Whether ``deepref.a.b`` names a module or package (not a function imported from one)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


CORE_FILES = sorted(
    path for name in CORE for path in ([PACKAGE / f"{name}.py"] if (PACKAGE / f"{name}.py").exists()
                                       else sorted((PACKAGE / name).rglob("*.py")))
)


def test_the_core_names_exist():
    assert all(path.exists() for path in CORE_FILES)
    assert {_first_level(_module_name(path)) for path in CORE_FILES} == CORE


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_core_module_imports_no_chapter_package(path):
    upward = sorted(
        name for name in _imported(path)
        if name != "deepref" and _existing(name) and _first_level(name) not in CORE
    )
    assert not upward, f"{_module_name(path)} imports {upward}, which are not core ({sorted(CORE)})"


def test_the_resolution_of_relative_imports(tmp_path):
    assert _imported(PACKAGE / "train.py") >= {"deepref.backend", "deepref.optim.clip"}
    assert "deepref.validation" in _imported(PACKAGE / "kernels" / "numpy_recurrent.py")
    assert "deepref.kernels" in _imported(PACKAGE / "optim" / "optimizers.py")


def test_every_chapter_experiment_lives_in_a_chapter_package():
    from deepref import reproduce

    homes = {experiment.function.partition(":")[0] for experiments in reproduce.CHAPTERS.values()
             for experiment in experiments}
    misplaced = sorted(home for home in homes
                       if _first_level(home) in CORE or not (PACKAGE / _first_level(home) / "__init__.py").exists())
    assert not misplaced, f"chapter experiments outside a chapter package: {misplaced}"
