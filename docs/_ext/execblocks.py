"""Runs the code blocks of the documentation's pages while Sphinx reads them, so a page
whose code no longer works fails the build (a warning, an error under -W):

* ```python blocks run in order, in one namespace per page, in a fresh temporary working
  directory per page (files a page writes go there); what a block prints is shown below
  it on the page (so printed numbers are this build's, not copied by hand);
* ```pycon blocks (`>>>` sessions) run in the same namespace as doctests: the printed
  output must match what the page shows (`...` stands for any text, whitespace is
  normalised);
* ```console blocks: each `$ command` line runs in a shell in the page's directory (with
  this Python's bin directory first on PATH, so `barenet` and `python` are this
  environment's); the lines after it, up to the next `$`, are its expected stdout and
  stderr, matched the same way. A command that is expected to fail shows its message.

A block whose first line is a comment starting with `# not run:` is shown, not run; the
rest of the comment says why (a download, a multi-GB install, a package the docs do not
install). Only MyST pages (.md) are run; the gallery runs examples/ and the API pages hold
the docstrings."""

import contextlib
import doctest
import io
import os
import subprocess
import sys
import tempfile
import time
import traceback

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SKIP = "# not run:"


def _matches(expected, got):
    return doctest.OutputChecker().check_output(expected, got, FLAGS)


def _run_python(code, namespace, where, block):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, where, "exec"), namespace)
    except BaseException:  # noqa: BLE001 -- any failure of a page's code is reported
        return traceback.format_exc(limit=-3)
    printed = out.getvalue()
    if printed.strip() and block is not None:
        from docutils import nodes

        shown = nodes.literal_block(printed, printed.rstrip("\n"), language="none",
                                    classes=["exec-output"])
        shown.line = block.line
        block.parent.insert(block.parent.index(block) + 1, shown)
    return None


def _run_pycon(code, namespace, where):
    test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=out.write, clear_globs=False)
    namespace.update(test.globs)   # DocTest ran in a copy; later blocks see its names
    return out.getvalue() if runner.failures else None


def _run_console(code, cwd):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep
           + os.environ.get("PATH", ""), "SKBUILD_EDITABLE_VERBOSE": "0"}
    commands, current = [], None
    for line in code.splitlines():
        if line.startswith("$ "):
            current = [line[2:], []]
            commands.append(current)
        elif current is not None:
            current[1].append(line)
    for command, expected in commands:
        got = subprocess.run(command, shell=True, cwd=cwd, env=env, text=True, timeout=600,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
        want = "\n".join(expected).strip() + "\n"
        if not _matches(want, got if got.strip() else "\n"):
            return f"$ {command}\nexpected:\n{want}got:\n{got}"
    return None


def run_page(app, doctree):
    from docutils import nodes
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    docname = app.env.docname
    if not app.env.doc2path(docname).suffix == ".md":
        return
    blocks = [b for b in doctree.findall(nodes.literal_block)
              if b.get("language") in ("python", "pycon", "console")]
    if not blocks:
        return
    start = time.perf_counter()
    namespace = {"__name__": "__main__"}
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix=f"barenet-doc-{docname}-") as cwd:
        os.chdir(cwd)
        try:
            for block in blocks:
                code = block.astext()
                if code.lstrip().startswith(SKIP):
                    continue
                where = f"{docname}.md:{block.line}"
                language = block["language"]
                if language == "python":
                    error = _run_python(code, namespace, where, block)
                elif language == "pycon":
                    error = _run_pycon(code, namespace, where)
                else:
                    error = _run_console(code, cwd)
                if error:
                    logger.warning("a %s block failed:\n%s", language, error,
                                   location=(docname, block.line), type="execblocks")
        finally:
            os.chdir(old_cwd)
    logger.info("execblocks: %s: %d blocks in %.1f s", docname, len(blocks),
                time.perf_counter() - start)


def setup(app):
    app.connect("doctree-read", run_page)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
