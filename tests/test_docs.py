"""What the documentation build relies on, checked without building it (.ci/run builds it):
every example can run in the gallery, and the runner of the pages' code blocks fails a
block that no longer does what the page shows."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def conf_value(name):
    """a literal assignment of docs/conf.py, read without running it"""
    tree = ast.parse((ROOT / "docs" / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return node.value
    raise KeyError(name)


def quick_args_keys():
    return {ast.literal_eval(key) for key in conf_value("QUICK_ARGS").keys}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_gallery_ready(path):
    """sphinx-gallery runs each example in the docs build's own process: it needs a title
    (the docstring's first line, underlined with =), the module's __doc__ is not there, a
    SystemExit(0) would end the whole build, and a long training needs quick arguments"""
    source = path.read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    title, underline = (doc.splitlines() + ["", ""])[:2]
    assert title and underline == "=" * len(title), f"{path.name}: no gallery title"
    assert "__doc__" not in source
    assert not re.search(r"^\s*sys\.exit\(main\(", source, re.M), \
        f"{path.name}: exit only on failure (the gallery runs it in-process)"
    ignored = ast.literal_eval(conf_value("IGNORED_EXAMPLES"))
    if "--epochs" in source and not re.search(ignored, path.name):
        assert path.name in quick_args_keys(), f"{path.name}: add quick arguments in conf.py"


def test_quick_arguments_name_existing_examples():
    assert quick_args_keys() <= {p.name for p in EXAMPLES}


@pytest.fixture
def execblocks():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import execblocks   # Sphinx is imported only when a build runs it
        yield execblocks
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def test_console_blocks_compare_output(execblocks, tmp_path):
    ok = "$ echo hello 12.5 s\nhello ...\n$ echo two; echo lines\ntwo\nlines\n"
    assert execblocks._run_console(ok, str(tmp_path)) is None
    error = execblocks._run_console("$ echo hello\ngoodbye\n", str(tmp_path))
    assert "expected:\ngoodbye" in error and "got:\nhello" in error


def test_python_and_pycon_blocks_fail_when_wrong(execblocks):
    namespace = {}
    assert execblocks._run_pycon(">>> x = 2\n>>> x + 1\n3\n", namespace, "page") is None
    assert "Expected:\n    5" in execblocks._run_pycon(">>> x + 2\n5\n", namespace, "page")
    assert execblocks._run_python("x = 1 / 0\n", namespace, "page", None).endswith(
        "ZeroDivisionError: division by zero\n")
