"""The README's code, run: it starts with the two set-up commands, .ci/run runs the second
verbatim, and every python block runs as written (in order, in one namespace, in a
temporary directory), so the README cannot drift from the code. The documentation's own
code blocks are run by the docs build (docs/_ext/execblocks.py)."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")


def readme_blocks():
    """[(language, code)] of every fenced block, in order"""
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def readme_commands():
    block = [code for lang, code in readme_blocks() if lang == "sh"][0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    install_demo, test = readme_commands()
    assert "pip install ." in install_demo and "python -m barenet demo" in install_demo
    assert 'pip install ".[test]"' in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci
    assert "export BARENET_BACKEND=compiled" in ci


def test_every_readme_block_is_checked():
    """the one sh block is the commands above (CI runs them); every other block is python,
    run below: a block of another kind would be code no test runs"""
    languages = [lang for lang, _ in readme_blocks()]
    assert languages.count("sh") == 1 and languages[0] == "sh"
    assert set(languages) == {"sh", "python"}, languages


@pytest.mark.skipif(not FASHION.exists(), reason="dataset-fashion-mnist is not installed")
def test_readme_python_blocks_run(backend, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BARENET_BACKEND", backend)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    tutorial, fashion = [code for lang, code in readme_blocks() if lang == "python"]
    exec(compile(tutorial, "README.md (the tutorial)", "exec"), namespace)
    out = capsys.readouterr().out
    # the tutorial block: the tutorial's printout, its final loss as the README says, XOR solved
    assert out.startswith("Epoch 0, Loss: 0.8147\n") and out.count("Epoch ") == 50
    assert f"{namespace['losses'][-1]:.6f}" == "0.000733"
    nn, X, y = namespace["nn"], namespace["X"], namespace["y"]
    assert nn.backend == backend and ((nn.predict(X) > 0.5) == (y == 1)).all()
    # the Fashion-MNIST block: trained for real, saved where it says
    exec(compile(fashion, "README.md (Fashion-MNIST)", "exec"), namespace)
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert accuracy > 0.8 and len(namespace["history"]) == 2
    net = namespace["net"]
    assert net.backend == backend and namespace["history"].val_accuracy[-1] > 0.8
    loaded = type(net).load("fashion.npz")
    np.testing.assert_array_equal(loaded.get_params(), net.get_params())
    assert os.listdir(tmp_path) == ["fashion.npz"]
