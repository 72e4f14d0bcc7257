"""Every benchmark in one table: each figure beside a peer measured in the
same run, the ratio and the goal; written also as Markdown to
docs/PERFORMANCE.md with the machine, the date and the interpreters.

    python -m bench            the full run (a few minutes)
    python -m bench --quick    a CI-sized run: the same code, fewer rounds;
                               prints the table, leaves docs/PERFORMANCE.md alone
    python -m bench codec e2e  only the named benchmarks

Nothing here asserts a time. A benchmark that crashes makes the run fail
(exit 1), so the benches cannot rot; a slow figure only shows as "NO".
"""

import datetime
import os
import platform
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> module: each has figures(quick) -> [bench.figures.Figure].
BENCHMARKS = (
    ("codec", "bench.iso8583_codec"),
    ("mac", "bench.crypto_mac"),
    ("e2e", "bench.e2e"),
    ("host", "bench.host_load"),
    ("window", "bench.window_latency"),
    ("passwords", "bench.password_cost"),
    ("keys", "bench.keypress"),
    ("journal", "bench.journal"),
    ("drivers", "bench.drivers"),
    ("printer", "bench.printer_line"),
    ("flash", "bench.flash_update"),
    ("vm", "bench.virtual_handset"),
    ("esign", "bench.esign_image"),
    ("ink", "bench.signpad_ink"),
)


def machine_lines():
    from tests.support import micropython_path
    lines = ["- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "- machine: %s, %s, %d cores" % (platform.platform(), platform.machine(), os.cpu_count() or 0),
             "- CPython %s" % platform.python_version()]
    interpreter = micropython_path()
    if interpreter:
        version = subprocess.run([interpreter, "-c", "import sys; print(sys.version, sys.implementation.version)"],
                                 capture_output=True, text=True).stdout.strip()
        lines.append("- MicroPython: %s (%s)" % (version, interpreter))
    else:
        lines.append("- MicroPython: not found")
    return lines


def write_markdown(path, figures, took, failed=()):
    from bench.figures import markdown_table
    text = ["# Performance", "",
            "Made by `python -m bench`; do not edit by hand. Every figure stands beside a peer measured "
            "in the same run (or the physical floor, or the reason there is none); ratio = ours / peer. "
            "Goals come from the benchmarks issue; `NO` marks a figure that misses its goal.", ""]
    text += machine_lines()
    text += ["- run took %.0f s" % took, ""]
    text.append(markdown_table(figures))
    text.append("")
    if failed:
        text += ["**Benchmarks that crashed in this run (no figures):** %s." % ", ".join(failed), ""]
    with open(path, "w") as f:
        f.write("\n".join(text))


def main(argv=None):
    import importlib
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")]
    known = dict(BENCHMARKS)
    unknown = [n for n in names if n not in known]
    if unknown:
        print("unknown benchmark %s; there are: %s" % (", ".join(unknown), ", ".join(known)))
        return 2
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from bench.figures import text_table
    figures = []
    failed = []
    started = time.monotonic()
    for name, module_name in BENCHMARKS:
        if names and name not in names:
            continue
        print("running %s ..." % name, flush=True)
        try:
            figures += importlib.import_module(module_name).figures(quick)
        except Exception:     # the run goes on, the exit status tells
            failed.append(name)
            traceback.print_exc()
    took = time.monotonic() - started
    print()
    print(text_table(figures))
    if not names and not quick:
        path = os.path.join(ROOT, "docs", "PERFORMANCE.md")
        write_markdown(path, figures, took, failed)
        print("\nwritten to %s" % os.path.relpath(path))
    if failed:
        print("\nbenchmarks that crashed: %s" % ", ".join(failed))
        return 1
    return 0
