"""Sphinx configuration of barenet's documentation: MyST pages (docs/*.md, every one in the
toctree through a glob), an API reference generated from the docstrings (autodoc,
autosummary, numpydoc), a gallery of examples/ executed by sphinx-gallery, and every
```python block of the pages executed by docs/_ext/execblocks.py. Built by .ci/run with
warnings as errors:

    pip install ".[docs]" && python -m sphinx -W --keep-going -b html docs build/docs
"""

import os
import sys
import tempfile
from pathlib import Path

import barenet

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "barenet"
author = "the barenet developers"
copyright = "the barenet developers"
release = version = barenet.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "execblocks",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# the gallery's settings hold functions (reset_argv, the scraper), which Sphinx cannot
# pickle: it says so and rebuilds everything on each run, which CI does anyway
suppress_warnings = ["config.cache"]

# -- API reference ------------------------------------------------------------------------
autosummary_generate = True
templates_path = ["_templates"]
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"          # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # the autosummary templates list members
numpydoc_class_members_toctree = False
autodoc_mock_imports = []



def skip_foreign_members(app, what, name, obj, skip, options):
    """scikit-learn adds set_*_request methods to estimator classes; they are its API,
    documented there, not barenet's"""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_foreign_members)


# -- the gallery: every file of examples/ is run (quick arguments below) -----------------
# The examples take command-line options; under the gallery they get the quick ones here
# (files go to a temporary directory, never into the source tree).
_OUT = Path(tempfile.mkdtemp(prefix="barenet-docs-"))
os.environ.setdefault("MPLBACKEND", "Agg")
QUICK_ARGS = {
    "spiral.py": [str(_OUT / "spiral.png")],
    "gradient_descent.py": [str(_OUT)],
    "fashion_mnist.py": ["--subset", "3000", "--epochs", "3", "--out", str(_OUT / "m.npz"),
                         "--plot", str(_OUT / "fashion_history.png")],
    "fashion_cnn.py": ["--subset", "500", "--test-subset", "300", "--epochs", "1",
                       "--out", str(_OUT / "cnn.npz")],
    "fashion_resnet.py": ["--subset", "300", "--test-subset", "300", "--epochs", "1",
                          "--out", str(_OUT / "resnet.npz")],
    "fashion_rnn.py": ["--subset", "500", "--test-subset", "300", "--epochs", "1",
                       "--out", str(_OUT / "rnn.npz")],
    # trained on the README here (the fortunes package it reads by default may be absent)
    "char_lm.py": ["--text", str(DOCS.parent / "README.md"), "--epochs", "1", "--units", "32",
                   "--steps", "32", "--generate", "80", "--out", str(_OUT / "char_lm.npz")],
    "char_gpt.py": ["--text", str(DOCS.parent / "README.md"), "--epochs", "1", "--layers", "2",
                    "--dim", "32", "--heads", "2", "--context", "32", "--evals", "1",
                    "--generate", "80", "--out", str(_OUT / "char_gpt.npz")],
}

# examples left out of the gallery (none but the package marker); a sequence example
# trains for minutes with its own arguments, here on a subset (QUICK_ARGS)
IGNORED_EXAMPLES = r"__init__\.py$"


def reset_argv(gallery_conf, script_vars):
    return QUICK_ARGS.get(Path(script_vars["src_file"]).name, [])


def png_scraper(block, block_vars, gallery_conf):
    """the examples save their pictures with barenet.plot's path= (Agg, no pyplot), so the
    gallery takes every new PNG (and GIF animation) written to the output directory, plus
    pyplot's figures"""
    from sphinx_gallery.scrapers import figure_rst, matplotlib_scraper

    rst = matplotlib_scraper(block, block_vars, gallery_conf)
    seen = block_vars.setdefault("barenet_seen", set())
    images = []
    for png in sorted([*_OUT.glob("*.png"), *_OUT.glob("*.gif")]):
        if png in seen:
            continue
        seen.add(png)
        target = Path(next(block_vars["image_path_iterator"])).with_suffix(png.suffix)
        target.write_bytes(png.read_bytes())
        png.unlink()
        images.append(str(target))
    return rst + figure_rst(images, gallery_conf["src_dir"]) if images else rst


sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",       # run every example, not only plot_*.py
    "ignore_pattern": IGNORED_EXAMPLES,
    "reset_argv": reset_argv,
    "image_scrapers": (png_scraper,),
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "write_computation_times": False,   # no page of timings (it would join the glob toctree)
    "plot_gallery": "True",
}

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"barenet {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2,
                      "secondary_sidebar_items": ["page-toc"]}
html_static_path = []
