"""What every benchmark hands to the runner: figures, each beside the peer
it was measured against in the same run, and the table they make.

A benchmark module has `figures(quick) -> [Figure]`. It measures; it never
asserts a time. `ratio` is ours / peer for times (lower is better) and for
a rate (like bytes/s against a line rate) what the figure says it is.
"""

import statistics
import time


class Figure:
    """One row of the table. `ours` and `peer` are numbers in `unit`;
    `peer_name` says what the peer is (or why there is none); `goal` is the
    target as text and `met` whether the figure reaches it (None: report
    only); `note` says what limits it, where that is known."""

    def __init__(self, name, ours, unit, peer_name="", peer=None, goal="report", met=None, note="",
                 ratio=None):
        self.name = name
        self.ours = ours
        self.unit = unit
        self.peer_name = peer_name
        self.peer = peer
        self.goal = goal
        self.met = met
        self.note = note
        if ratio is None and peer:
            ratio = ours / peer
        self.ratio = ratio


def best_of(function, number, repeat):
    """Seconds per call of function(): the minimum over `repeat` rounds of
    `number` calls (the least disturbed round, as timeit advises)."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        rounds.append((time.perf_counter() - start) / number)
    return min(rounds)


def interleaved(functions, number, repeat):
    """Like best_of for several functions, taking their rounds in turn so
    that a machine busy in one moment slows all of them alike. -> a list of
    seconds per call, in the order of `functions`."""
    best = [None] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            for _ in range(number):
                function()
            took = (time.perf_counter() - start) / number
            if best[index] is None or took < best[index]:
                best[index] = took
    return best


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def median(values):
    return statistics.median(values)


def _number(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.3g" % value


def rows(figures):
    """The table as rows of text cells, header first."""
    out = [("figure", "ours", "peer (same run)", "ratio", "goal", "met", "note")]
    for f in figures:
        peer = f.peer_name
        if f.peer is not None:
            peer = "%s: %s %s" % (f.peer_name, _number(f.peer), f.unit)
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        out.append((f.name, "%s %s" % (_number(f.ours), f.unit), peer,
                    "-" if f.ratio is None else "%.2f×" % f.ratio, f.goal, met, f.note))
    return out


def text_table(figures):
    table = rows(figures)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(figures):
    table = rows(figures)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    for row in table[1:]:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)
