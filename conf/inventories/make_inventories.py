"""Write the offline intersphinx inventories ``python.inv`` and ``numpy.inv``.

The book is built without internet access, so Sphinx cannot fetch the
``objects.inv`` files of docs.python.org and numpy.org. These small inventories
list the objects the book links to, with their addresses in the official
documentation; links resolve to the real pages. Add an entry here and re-run
``python conf/inventories/make_inventories.py`` to link to a new object.
"""

import pathlib
import zlib

HERE = pathlib.Path(__file__).parent

# (name, domain:role, relative address); "$" in the address stands for the name.
PYTHON = [
    ("contextlib.contextmanager", "py:function", "library/contextlib.html#$"),
    ("dataclasses.dataclass", "py:function", "library/dataclasses.html#$"),
    ("typing.NamedTuple", "py:class", "library/typing.html#$"),
    ("os.environ", "py:data", "library/os.html#$"),
    ("math.fsum", "py:function", "library/math.html#$"),
    ("random.Random", "py:class", "library/random.html#$"),
    ("pydoc", "py:module", "library/pydoc.html#module-pydoc"),
]
NUMPY = [
    ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#$"),
    ("numpy.random.default_rng", "py:function", "reference/random/generator.html#$"),
    ("numpy.random.Generator", "py:class", "reference/random/generator.html#$"),
    ("numpy.savez", "py:function", "reference/generated/numpy.savez.html#$"),
    ("numpy.load", "py:function", "reference/generated/numpy.load.html#$"),
    ("numpy.ufunc.at", "py:method", "reference/generated/numpy.ufunc.at.html#$"),
    ("numpy.linalg.eigh", "py:function", "reference/generated/numpy.linalg.eigh.html#$"),
    ("numpy.einsum", "py:function", "reference/generated/numpy.einsum.html#$"),
    ("numpy.float64", "py:attribute", "reference/arrays.scalars.html#$"),
]


def write_inventory(path: pathlib.Path, project: str, version: str, entries) -> None:
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries)
    path.write_bytes(header.encode() + zlib.compress(body.encode()))


if __name__ == "__main__":
    write_inventory(HERE / "python.inv", "Python", "3", PYTHON)
    write_inventory(HERE / "numpy.inv", "NumPy", "2", NUMPY)
