"""Packaging: the cibuildwheel build matrix (checked with cibuildwheel itself when it is
installed; it is not a test dependency), the pure-Python build switch BARENET_PURE and the
after-failure message that names it, barenet.info() and `barenet info`, and the scripts
CI runs (scripts/build_wheel.sh, check_sdist.sh, pure_install.sh: here only their syntax;
running them takes minutes, see docs/installation.md)."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from barenet import _backend
from barenet._info import info

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
PYTHONS = ("cp310", "cp311", "cp312", "cp313", "cp314", "cp314t")   # 3.14t: free-threaded

EXPECTED_IDENTIFIERS = {
    "linux": [f"{py}-manylinux_{arch}" for arch in ("x86_64", "aarch64") for py in PYTHONS],
    "macos": [f"{py}-macosx_{arch}" for py in PYTHONS for arch in ("x86_64", "arm64")],
    "windows": [f"{py}-win_amd64" for py in PYTHONS],
}

needs_source_tree = pytest.mark.skipif(not PYPROJECT.exists(),
                                       reason="needs the source tree's pyproject.toml")


def load_pyproject():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)


# ---- cibuildwheel ---------------------------------------------------------------------

@needs_source_tree
@pytest.mark.skipif(importlib.util.find_spec("cibuildwheel") is None,
                    reason="cibuildwheel is not installed (it is not a test dependency)")
@pytest.mark.parametrize("platform", sorted(EXPECTED_IDENTIFIERS))
def test_cibuildwheel_identifiers(platform):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    result = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
                             "--platform", platform], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    identifiers = result.stdout.split()
    assert sorted(identifiers) == sorted(EXPECTED_IDENTIFIERS[platform]), identifiers


@needs_source_tree
def test_cibuildwheel_configuration():
    cfg = load_pyproject()["tool"]["cibuildwheel"]
    assert cfg["build"] == [f"{py}-*" for py in PYTHONS]
    assert {"*-win32", "*_i686", "*-musllinux_*"} <= set(cfg["skip"])
    assert "enable" not in cfg  # no PyPy, no experimental 3.13t (3.14t needs no enable)
    # the test suite runs against the installed wheel with the compiled backend required
    assert cfg["test-extras"] == ["test"]
    assert cfg["test-environment"] == {"BARENET_BACKEND": "compiled"}
    assert "pytest {project}/tests" in cfg["test-command"]
    assert cfg["linux"]["archs"] == ["x86_64", "aarch64"]
    assert cfg["macos"]["archs"] == ["x86_64", "arm64"]
    assert cfg["windows"]["archs"] == ["AMD64"]
    # Apple's clang has no OpenMP: macOS wheels are built without it, on purpose
    assert cfg["macos"]["config-settings"] == {"cmake.define.BARENET_OPENMP": "OFF"}


# ---- release metadata ---------------------------------------------------------------------

@needs_source_tree
def test_release_metadata():
    """one version (barenet.__version__, which pyproject reads), the LICENSE pyproject
    declares, classifiers for every Python the wheels are built for, a changelog"""
    import barenet
    project = load_pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    version = load_pyproject()["tool"]["scikit-build"]["metadata"]["version"]
    assert version == {"provider": "scikit_build_core.metadata.regex",
                       "input": "src/barenet/__init__.py"}
    init = (ROOT / "src" / "barenet" / "__init__.py").read_text()
    assert init.count("__version__ = ") == 1 and f'__version__ = "{barenet.__version__}"' in init
    assert info()["version"] == barenet.__version__
    assert project["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    classifiers = project["classifiers"]
    assert "License :: OSI Approved :: MIT License" in classifiers
    assert len(classifiers) == len(set(classifiers))
    minor = sorted({int(py[3:].rstrip("t")) for py in PYTHONS})
    assert project["requires-python"] == f">=3.{minor[0]}"
    for m in minor:
        assert f"Programming Language :: Python :: 3.{m}" in classifiers
    assert any(c.startswith("Programming Language :: Python :: Free Threading ::")
               for c in classifiers) == any(py.endswith("t") for py in PYTHONS)
    for system in ("POSIX :: Linux", "MacOS :: MacOS X", "Microsoft :: Windows"):
        assert f"Operating System :: {system}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert f"## {barenet.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_installed_version_and_typed_marker():
    """the installed distribution's version is barenet.__version__; py.typed is installed"""
    import importlib.metadata
    import importlib.resources

    import barenet
    try:
        assert importlib.metadata.version("barenet") == barenet.__version__
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("barenet runs from a source tree without installed metadata")
    assert importlib.resources.files("barenet").joinpath("py.typed").is_file()


@needs_source_tree
def test_extension_declares_free_threading():
    """a cp314t wheel's extension must say it needs no GIL, else importing it turns the GIL
    back on; Cython >= 3.1 knows the directive (and builds for 3.14)"""
    head = (ROOT / "src" / "barenet" / "_core.pyx").read_text().splitlines()[:3]
    assert "# cython: freethreading_compatible=True" in head
    assert '"cython>=3.1"' in PYPROJECT.read_text()


@needs_source_tree
def test_type_check_configuration():
    """.ci/run type-checks the package with mypy from the typecheck extra, configured in
    pyproject.toml, without blanket ignores: no ignore_errors, no `type: ignore` comments;
    only optional dependencies without types may be missing"""
    pyproject = load_pyproject()
    cfg = pyproject["tool"]["mypy"]
    assert cfg["files"] == ["src/barenet"]
    assert any(r.startswith("mypy") for r in pyproject["project"]["optional-dependencies"]
               ["typecheck"])
    for override in cfg.get("overrides", []):
        assert set(override) == {"module", "ignore_missing_imports"}, override
        for module in override["module"]:   # barenet's own: only a module not there yet
            if module.startswith("barenet"):
                path = ROOT / "src" / (module.replace(".", "/") + ".py")
                assert not path.exists(), f"{module} exists now: drop its mypy override"
    assert "ignore_errors" not in cfg and not cfg.get("ignore_missing_imports", False)
    for path in (ROOT / "src" / "barenet").glob("*.py"):
        assert "type: ignore" not in path.read_text(), path
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'step "type check (mypy)" typecheck' in ci and "python -m mypy\n" in ci


# ---- the pure build and the failure message -------------------------------------------

@needs_source_tree
def test_pure_build_override_and_failure_message():
    skb = load_pyproject()["tool"]["scikit-build"]
    assert "BARENET_PURE" in skb["messages"]["after-failure"]
    pure = [o for o in skb["overrides"] if o["if"].get("env", {}).get("BARENET_PURE") is True]
    assert len(pure) == 1
    assert pure[0]["wheel"]["cmake"] is False and pure[0]["wheel"]["platlib"] is False


@needs_source_tree
@pytest.mark.parametrize("value, cmake", [(None, True), ("1", False), ("true", False),
                                          ("0", True)])
def test_scikit_build_core_reads_barenet_pure(monkeypatch, value, cmake):
    """scikit-build-core's own settings reader: BARENET_PURE=1 turns CMake off (internal
    API of scikit-build-core, which is installed where barenet is built, not always here)"""
    pytest.importorskip("scikit_build_core")
    reader = pytest.importorskip("scikit_build_core.settings.skbuild_read_settings")
    if value is None:
        monkeypatch.delenv("BARENET_PURE", raising=False)
    else:
        monkeypatch.setenv("BARENET_PURE", value)
    settings = reader.SettingsReader(load_pyproject(), {}, state="wheel").settings
    assert settings.wheel.cmake is cmake
    assert ("set BARENET_PURE=1" in settings.messages.after_failure) is cmake


# ---- barenet.info() and `barenet info` ------------------------------------------------

KEYS = {"version", "python", "numpy", "platform", "machine", "backend", "compiled_available",
        "compiled_error", "cpu_kernel", "threads", "openmp"}


def test_info(backend):
    import barenet

    facts = info(backend)
    assert set(facts) == KEYS
    assert facts["version"] == barenet.__version__
    assert facts["backend"] == backend
    compiled = _backend._try_compiled() is None
    assert facts["compiled_available"] is compiled
    assert isinstance(facts["openmp"], bool) and isinstance(facts["threads"], int)
    if compiled:
        assert facts["compiled_error"] is None
        assert facts["cpu_kernel"] in ("avx512", "avx2_fma", "generic")
        assert facts["threads"] >= 1
        if not facts["openmp"]:
            assert facts["threads"] == 1
    else:
        assert facts["cpu_kernel"] is None and facts["threads"] == 1
        assert "not installed" in facts["compiled_error"] or "failed" in facts["compiled_error"]


def test_info_default_follows_barenet_backend(monkeypatch):
    monkeypatch.setenv("BARENET_BACKEND", "numpy")
    assert info()["backend"] == "numpy"
    monkeypatch.setenv("BARENET_BACKEND", "bogus")
    with pytest.raises(ValueError, match="BARENET_BACKEND"):
        info()


def test_cli_info_agrees(backend, capsys):
    from barenet.cli import main

    assert main(["--backend", backend, "info"]) == 0
    out = capsys.readouterr().out
    facts = info(backend)
    assert f"barenet {facts['version']}" in out
    assert f"backend: {backend}" in out
    if backend == "compiled":
        assert f"cpu kernel: {facts['cpu_kernel']}" in out
        assert f"threads: {facts['threads']}" in out


# ---- the scripts CI runs, the workflow, the README section -----------------------------

SCRIPTS = ("build_wheel.sh", "check_sdist.sh", "pure_install.sh")


@needs_source_tree
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", SCRIPTS)
def test_script_syntax(name):
    path = ROOT / "scripts" / name
    assert path.exists()
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    if os.name == "posix":
        assert os.access(path, os.X_OK), f"{path} is not executable"


@needs_source_tree
def test_wheels_workflow():
    path = ROOT / ".github" / "workflows" / "wheels.yml"
    if not path.exists():
        pytest.skip("no .github/workflows/wheels.yml (not shipped in the sdist)")
    text = path.read_text()
    for needle in ("cibuildwheel==", "ubuntu-latest", "ubuntu-24.04-arm", "windows-latest",
                   "macos-14", "macos-15-intel", "check_sdist.sh", "pure_install.sh",
                   "upload-artifact"):
        assert needle in text, needle
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(text)
    assert {"build_wheels", "build_sdist"} <= set(workflow["jobs"])


@needs_source_tree
def test_installation_page():
    """docs/installation.md (the README links it) says how to install and check packages"""
    section = (ROOT / "docs" / "installation.md").read_text()
    assert "docs/installation.md" in (ROOT / "README.md").read_text()
    for needle in ("BARENET_PURE=1", "barenet.info()", "scripts/build_wheel.sh",
                   "scripts/check_sdist.sh", "scripts/pure_install.sh"):
        assert needle in section, needle
