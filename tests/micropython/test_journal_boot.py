"""The largest journal the terminal allows (5,000 settled sales in the sale
index, a 1,000-sale batch in the journal) boots under MicroPython with the
handset's 1 MiB heap, to the idle screen, with every record accounted for.
(The time it takes is a benchmark figure, bench/journal.py, never asserted.)"""

import os

from bench.journal import BATCH_SALES, HANDSET_HEAP, build, probe


def test_the_largest_journal_boots_in_a_1_mib_heap(micropython, tmp_path):
    data = str(tmp_path / "handset")
    built = build(data, 5000, BATCH_SALES)
    assert built["records"] == 1 + 6 * BATCH_SALES
    out = probe(micropython, data, "boot", 1, ("-X", "heapsize=%s" % HANDSET_HEAP))
    assert out["batch"] == BATCH_SALES              # every sale of the batch in the totals
    assert out["problems"] == [] and "journal" not in out["service"]
    assert out["heap_live"] < 1024 * 1024
    assert os.path.getsize(os.path.join(data, "sales.1.idx")) == 5000 * 160
