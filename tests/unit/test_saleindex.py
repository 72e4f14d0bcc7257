"""The on-disk sale index: sorted fixed-width lines, binary search by seek,
generations merged at settlement, the newest MAX sales kept."""

from firmware.saleindex import LINE, SaleIndex, encode_line, index_name
from hal.storage import DirStorage


def sale(rrn, trace, amount=100, **extra):
    entry = {"rrn": rrn, "batch": 1, "trace": trace, "amount": amount, "pan": "622202*********0017",
             "pan_sealed": "ab" * 32}
    entry.update(extra)
    return entry


def add(index, entries, refunds, keep):
    """A settlement's step: the next generation with these new entries."""
    index.use(index.write_next([encode_line(dict(e, gen=index.gen + 1)) for e in entries], refunds, keep))


def test_lookup_by_rrn_reads_log_n_lines(tmp_path):
    storage = DirStorage(str(tmp_path))
    index = SaleIndex(storage)
    add(index, [sale("%012d" % (n * 7919 % 100003), n) for n in range(1, 2001)], {}, 5000)
    reads = []
    original = storage.read_at
    storage.read_at = lambda *a: reads.append(a) or original(*a)
    found = index.find("%012d" % (1234 * 7919 % 100003))
    assert found["trace"] == 1234 and found["pan_sealed"] == "ab" * 32 and found["refunded"] == 0
    assert len(reads) <= 12
    assert index.find("999999999999") is None


def test_generations_fold_refunds_and_drop_the_oldest(tmp_path):
    storage = DirStorage(str(tmp_path))
    index = SaleIndex(storage)
    add(index, [sale("000000000001", 1), sale("000000000002", 2)], {}, 3)
    add(index, [sale("000000000003", 3, voided=True)], {"000000000001": 40}, 3)
    assert index.find("000000000001")["refunded"] == 40
    assert index.find("000000000003")["voided"]
    # a fourth sale does not fit in 3: the whole oldest generation goes
    add(index, [sale("000000000004", 4)], {}, 3)
    assert index.find("000000000001") is None and index.find("000000000004") is not None
    assert index.count == 2


def test_a_damaged_line_is_absent_not_wrong(tmp_path):
    storage = DirStorage(str(tmp_path))
    index = SaleIndex(storage)
    add(index, [sale("000000000001", 1, amount=500)], {}, 10)
    data = bytearray(storage.read(index_name(index.gen)))
    assert len(data) == LINE
    data[30] = ord("9")     # the amount
    storage.write_atomic(index_name(index.gen), bytes(data))
    assert index.find("000000000001") is None
