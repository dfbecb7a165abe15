"""The tutorial's script and the command line, run as a user runs them."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tutorial_xor

ROOT = Path(__file__).resolve().parent.parent


def test_tutorial_xor_script(backend, monkeypatch, capsys):
    monkeypatch.setenv("BARENET_BACKEND", backend)
    scope = runpy.run_path(str(ROOT / "examples" / "xor.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.startswith("Epoch 0, Loss: 0.8147\nEpoch 100, Loss: 0.4362\n")
    assert out.count("Epoch ") == 50 and "Predictions:" in out
    nn, X, y = scope["nn"], scope["X"], scope["y"]
    assert nn.backend == backend
    assert ((nn.predict(X) > 0.5) == (y == 1)).all()
    # the README's 0.000733: the tutorial's own code (conftest.tutorial_xor), 5000 epochs
    losses, expected = scope["losses"], tutorial_xor(5000, stable_loss=True)[0]
    assert len(losses) == 5000 and f"{expected[-1]:.6f}" == "0.000733"
    np.testing.assert_allclose(losses, expected, rtol=1e-8)


def test_the_tutorials_published_order_ends_at_0_000732():
    """the README's other figure: the tutorial as published (each layer updated before the
    error goes back through it) ends at 0.000732, close to barenet's corrected 0.000733"""
    assert f"{tutorial_xor(5000, published=True)[0][-1]:.6f}" == "0.000732"
    assert f"{tutorial_xor(5000)[0][-1]:.6f}" == "0.000733"


def run_cli(*args, backend="numpy"):
    env = {**os.environ, "BARENET_BACKEND": backend}
    return subprocess.run([sys.executable, "-m", "barenet", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_demo_command(backend):
    result = run_cli("demo", backend=backend)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Epoch 0, Loss: 0.8147" in out and "Epoch 4900, Loss:" in out
    assert "Predictions:" in out
    acc = [line for line in out.splitlines() if line.startswith("accuracy:")]
    test_acc = float(acc[0].rsplit(" ", 1)[1])
    assert test_acc >= 0.9


def test_info_command(backend):
    result = run_cli("info", backend=backend)
    assert result.returncode == 0, result.stderr
    assert "barenet 0.1.0" in result.stdout
    assert f"backend: {backend}" in result.stdout


def test_cli_errors_are_one_line():
    result = run_cli("--backend", "gpu", "info")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run_cli("info", backend="bogus")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "BARENET_BACKEND must be one of" in result.stderr
