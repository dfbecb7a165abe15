"""examples/fashion_rnn.py, char_lm.py and char_gpt.py run as a user runs them (in a
subprocess, on each backend, in a scratch directory) on small subsets so CI stays short;
skipped only when their Debian data package is not installed (.ci/run installs both)."""

import os

import pytest

from test_examples_extra import fashion_mnist_installed, number_after, run_example

FORTUNES = "/usr/share/games/fortunes"


def fortunes_installed():
    return os.path.isdir(FORTUNES)


@pytest.mark.skipif(not fashion_mnist_installed(),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_rnn_example(backend, tmp_path):
    out = run_example("fashion_rnn.py", "--subset", "1000", "--test-subset", "300",
                      "--epochs", "1", "--units", "32", "--out", "rnn.npz", backend=backend,
                      cwd=tmp_path)
    assert f"{backend} backend" in out and "1000 training images" in out
    assert 0.0 <= number_after("test accuracy:", out) <= 1.0
    assert "reloaded model predicts the same: True" in out


@pytest.mark.skipif(not fortunes_installed(), reason="the Debian package fortunes is not "
                    "installed")
def test_char_lm_example(backend, tmp_path):
    out = run_example("char_lm.py", "--chars", "20000", "--epochs", "1", "--units", "32",
                      "--steps", "32", "--generate", "40", "--out", "lm.npz",
                      backend=backend, cwd=tmp_path)
    assert f"{backend} backend" in out
    assert 0.0 < number_after("validation", out) < 10.0
    assert "reloaded model generates the same: True" in out


@pytest.mark.skipif(not fortunes_installed(), reason="the Debian package fortunes is not "
                    "installed")
def test_char_gpt_example(backend, tmp_path):
    out = run_example("char_gpt.py", "--chars", "20000", "--epochs", "1", "--layers", "1",
                      "--dim", "16", "--heads", "2", "--context", "16", "--evals", "1",
                      "--generate", "30", "--out", "gpt.npz", backend=backend, cwd=tmp_path)
    assert f"{backend} backend" in out
    assert 0.0 < number_after("validation loss", out) < 10.0
    assert "reloaded model generates the same: True" in out
