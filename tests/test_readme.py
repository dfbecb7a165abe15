"""README starts with the two set-up commands, and .ci/run runs the second verbatim."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    install_demo, test = readme_commands()
    assert "pip install ." in install_demo and "python -m barenet demo" in install_demo
    assert 'pip install ".[test]"' in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci
    assert "export BARENET_BACKEND=compiled" in ci
