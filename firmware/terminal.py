"""The terminal's state, folded from the journal's records.

Nothing here is stored on its own: at boot, TerminalState.load() replays the
journal, and every change goes through a journal record first (record(),
which appends durably and then applies). So what the terminal believes after
a power cut is exactly what the journal says.

Record kinds (field "k"):
  batch     {"batch": n}                       a new current batch
  trace     {"trace": n}                       a trace number used by a non-financial message
  txn       {"batch", "trace", "type", "amount", "state": "sent", ...}
                                               an online request about to leave
  reply     {"batch", "trace", "state": approved|declined, "rc", "rrn", "auth", ...}
  unknown   {"batch", "trace", "reason"}       no usable answer: reverse (sale, void) or resend (refund)
  reversal  {"batch", "trace", "result": done|failed, "tries"}
  resend    {"batch", "trace"}                 a refund sent again (same trace)
  chip      {"batch", "trace", "tc"}           the card's final cryptogram (TC) after approval
  printing  {"batch", "trace", "copy", "reprint": n}
                                               a slip about to print (before its first byte):
                                               reprint 0 an original copy, n the n-th reprint
  printed   {"batch", "trace", "copy", "all"}  one original copy printed ("all": the last one)
  settling  {"batch", "trace"}                 a 0500 about to leave: open until `settle` (or
            {"batch", "trace", "result"}       this with a result: the host never took it)
  settle    {"batch", "report": {...}}         the batch was settled; the next one begins
  offline   {"batch", "trace", "reason"}       the request never left: nothing to reverse
  snapshot  {"batch", "last_trace", "settled", "last_settlement", "index"}
                                               the journal restarted after a settlement (compact()),
  kept      {a transaction, condensed}         followed by the transactions it keeps
  sig       {"batch", "trace", "mark", "size", "sha256", "step"}
                                               an e-receipt upload owed (firmware/signatures.py):
                                               FF30's mark; with S the signature file's size and
                                               hash, and the image bytes a packet
  sig_ack   {"batch", "trace", "packet", "count"}  the host stored one packet of it
  sig_fail  {"batch", "trace", "code"}         a failed upload round
  sig_paper {"batch", "trace", "reason", "mark"}  fell back to a paper slip to sign: the upload
                                               becomes FF30 W (U: no paper), one packet, no image
  sig_done  {"batch", "trace"}                 every packet stored: nothing owed

What lives in RAM is bounded by the batch, not by history: the current
batch's transactions, and of settled batches only what is still owed
(receipts not printed) and the last approved one (reprint). Approved sales
of settled batches, which refunds still need, live in the on-disk sale
index (firmware/saleindex.py, found by RRN in O(log n) reads). The questions
the flows ask are answered through indices kept up to date as records
apply: by RRN, the voids of a sale, the refunds of an RRN.
"""

from hal.compat import collect_garbage
from hal.errors import StorageError
from firmware.records import RecordSchemas
from firmware.saleindex import SaleIndex, encode_line

SALE = "sale"
VOID = "void"
REFUND = "refund"

SENT = "sent"            # request journaled, outcome not known yet
APPROVED = "approved"
DECLINED = "declined"
UNKNOWN = "unknown"      # no usable reply: reversal (sale/void) or resend (refund) pending
WAITING = "waiting"      # a QR payment the customer has not confirmed yet (host said 09): polled;
                         # found so at boot it is reversed, which closes the order unpaid
REVERSED = "reversed"    # the host acknowledged our reversal
NOT_SENT = "not_sent"    # the connection never opened: nothing reached the host
UNCONFIRMED = "unconfirmed"  # a refund resend answered 94: the host holds another request under
                             # its trace; never paid as far as we know (call the acquirer)

MAX_TRACE = 999999
KEY_BASE = MAX_TRACE + 1   # batch and trace as one int (no heap of its own under MicroPython)
MAX_BATCH = 999999

TXN_RESERVE = 16 * 1024   # bytes a new transaction leaves free for closing records
MAX_KEPT_TXNS = 5000      # what compact() keeps: the last batch + older approved sales
# What a settled transaction still needs (receipts, refund checks); its
# request fields ("req") only served reversals, which a settled batch has none of.
KEPT_FIELDS = ("batch", "trace", "type", "amount", "state", "rc", "time", "op", "pan", "exp", "mode",
               "rrn", "auth", "host_date", "settle_date", "pan_sealed", "aid", "tc", "orig", "refunded", "voided",
               "printed", "copies_printed", "copies_started", "reprints", "channel", "order", "cvm", "pin",
               "esign")


# What a handler may raise on a record that fits its schema but not the
# state (a settlement report without its batch...): quarantined like a
# record that does not fit.
HANDLER_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


GC_EVERY = 100            # records replayed between collections at boot (hal.compat.collect_garbage)
TRACE_BLOCK = 20          # traces reserved by one write of the trace mark
TRACE_MARK = "trace.mark"


def _u32(value):
    return value.to_bytes(4, "big")


# A cold transaction is one bytes object (a tuple of five and a bytes of
# offsets cost twice as much of a 1 MiB heap):
#     type code | state code | len(channel) + 1 (0: a card) | amount (6) | channel | offsets (4 each)
TYPE_CODES = (SALE, VOID, REFUND)
STATE_CODES = (SENT, APPROVED, DECLINED, UNKNOWN, REVERSED, NOT_SENT, UNCONFIRMED, WAITING)


def _pack(txn, where):
    """-> the cold form of a txn, or None if it has no code (it stays hot)."""
    if txn["type"] not in TYPE_CODES or txn["state"] not in STATE_CODES:
        return None
    channel = _channel(txn)
    name = channel.encode() if channel is not None else b""
    if len(name) > 250 or not 0 <= txn["amount"] < 1 << 48:
        return None
    return (bytes((TYPE_CODES.index(txn["type"]), STATE_CODES.index(txn["state"]),
                   0 if channel is None else len(name) + 1)) +
            txn["amount"].to_bytes(6, "big") + name + where)


def _unpack(packed):
    """-> (type, state, amount, offsets, channel) of a cold txn."""
    size = packed[2]
    channel = packed[9:8 + size].decode() if size else None
    return (TYPE_CODES[packed[0]], STATE_CODES[packed[1]], int.from_bytes(packed[3:9], "big"),
            packed[9 + max(size - 1, 0):], channel)


def txn_key(batch, trace):
    """A transaction's key: batch and trace as one int."""
    return batch * KEY_BASE + trace


def _channel(txn):
    """The wallet of a QR payment ("qr" if it names none), None for a card."""
    if txn.get("order"):
        return txn.get("channel") or "qr"
    return None


def _rrn_key(rrn):
    """An RRN as a dict key: its number when it is all digits (a small int
    takes no heap of its own under MicroPython: 1,000 of them as strings
    cost 100 KB of a 1 MiB heap), else the text."""
    return int(rrn) if rrn.isdigit() else rrn


def _trace_after(trace, n=1):
    """The trace `n` after `trace`, wrapping 999999 -> 1."""
    return (trace + n - 1) % MAX_TRACE + 1


class ShardedDict:
    """A dict in SHARDS small ones. Under MicroPython a dict of a 1,000
    entries is one table of 16-20 KB that must be found in one piece each
    time it grows; on a 1 MiB heap fragmented by a boot's garbage that
    fails (MemoryError) while half the heap is free. Small tables fit."""

    SHARDS = 16

    def __init__(self):
        self._shards = [{} for _ in range(self.SHARDS)]

    def _shard(self, key):
        return self._shards[hash(key) & (self.SHARDS - 1)]

    def get(self, key, default=None):
        return self._shard(key).get(key, default)

    def __getitem__(self, key):
        return self._shard(key)[key]

    def __setitem__(self, key, value):
        self._shard(key)[key] = value

    def __contains__(self, key):
        return key in self._shard(key)

    def __len__(self):
        return sum(len(shard) for shard in self._shards)


class ChunkedList:
    """An append-only list in chunks of CHUNK items, for the same reason."""

    CHUNK = 128

    def __init__(self):
        self._chunks = []

    def append(self, item):
        if not self._chunks or len(self._chunks[-1]) >= self.CHUNK:
            self._chunks.append([])
        self._chunks[-1].append(item)

    def __iter__(self):
        for chunk in self._chunks:
            for item in chunk:
                yield item

    def backwards(self):
        for index in range(len(self._chunks) - 1, -1, -1):
            chunk = self._chunks[index]
            for at in range(len(chunk) - 1, -1, -1):
                yield chunk[at]

    def __len__(self):
        return sum(len(chunk) for chunk in self._chunks)


class TraceMark:
    """The trace high-water mark, kept apart from the journal: the last
    trace number of the block reserved so far, written durably before any
    trace of a new block is used. At boot the terminal goes on after it,
    whatever the journal says: a journal that is damaged, deleted or
    restored from an old copy can never make a trace number the host has
    seen come round again. (Costs at most TRACE_BLOCK - 1 unused numbers a
    boot; hosts take gaps.)"""

    def __init__(self, storage, name=TRACE_MARK):
        self._storage = storage
        self._name = name
        self._first = None   # the block reserved in this run: traces _first.. (TRACE_BLOCK of them)
        self.problem = None

    def read(self):
        """-> the last trace that may have been used, or None (no mark)."""
        self.problem = None
        try:
            data = self._storage.read(self._name)
        except StorageError as e:
            self.problem = "trace mark unreadable: %s" % e
            return None
        if data is None:
            return None
        try:
            value = int(data.decode().strip())
            if 1 <= value <= MAX_TRACE:
                return value
        except (ValueError, UnicodeError):
            pass
        self.problem = "trace mark damaged"
        return None

    def cover(self, trace):
        """Make sure `trace` is inside a durably reserved block before it is
        used. Raises StorageError (then the trace must not be used)."""
        if self._first is not None and (trace - self._first) % MAX_TRACE < TRACE_BLOCK:
            return
        last = _trace_after(trace, TRACE_BLOCK - 1)
        self._storage.write_atomic(self._name, ("%d\n" % last).encode())
        self._first = trace


class TerminalState:
    def __init__(self, journal, marks=None):
        self._journal = journal
        self._schemas = RecordSchemas()
        self._marks = marks or TraceMark(journal.storage)
        self.index = SaleIndex(journal.storage)
        self.problems = []   # what load() found wrong in the journal, for the log and service
        self._reset()

    def _reset(self):
        self.batch = 1
        self.last_trace = 0
        self.jumped_traces = 0    # how far load() moved last_trace on to the trace mark
        # Keys are txn_key(batch, trace): one int (a tuple would be 32 bytes
        # of heap a transaction).
        self.txns = ShardedDict()  # key -> txn dict (hot) or its packed form (cold)
        self.order = ChunkedList()  # keys in journal order
        self._sale_by_rrn = ShardedDict()    # _rrn_key(rrn) -> key of a sale (`txn`, not `kept`)
        self._voids_of = {}       # key of a sale -> keys of its voids
        self._refunds_of = {}     # rrn of a sale -> keys of refunds against it
        self._where = {}          # key of a hot txn -> where its records are in the journal (4 bytes each)
        self._kept = {}           # keys of `kept` transactions (settled: already in the sale index)
        self._uploads = []        # keys of transactions whose e-receipt upload is owed, in journal order
        self.settled_batches = []
        self.last_settlement = None   # the report dict of the last settlement
        self.last_printed = None      # ("txn", (batch, trace)) or ("settle", batch)
        self.settling = None          # {"batch", "trace"} of a settlement sent, outcome unknown

    # -- loading and recording -------------------------------------------------

    def load(self):
        """Replay the journal. A record that decodes but does not fit its
        schema (or its handler) never stops the boot: it is quarantined to
        a side file and named in `problems` (the app then needs service)."""
        self.problems = []
        count = 0
        for record in self._journal.replay():
            count += 1
            if count % GC_EVERY == 0:
                collect_garbage()
            problem = self._schemas.problem(record)
            if problem is None:
                try:
                    self._apply(record)
                    continue
                except HANDLER_ERRORS as e:
                    problem = "%s: %s %s" % (record.get("k"), type(e).__name__, e)
            self._journal.quarantine(record)
            self.problems.append("record quarantined (%s)" % problem)
        self.problems = self._journal.problems + self.problems
        collect_garbage()   # the replay's garbage, before the boot goes on
        mark = self._marks.read()
        if self._marks.problem:
            self.problems.append(self._marks.problem)
        ahead = (mark - self.last_trace) % MAX_TRACE if mark is not None else 0
        if 0 < ahead < MAX_TRACE // 2:
            # Every trace up to the mark may have been used (by records lost
            # or not written yet): go on after it.
            self.jumped_traces = ahead
            self.last_trace = mark
        return self

    def record(self, kind, **fields):
        """Append a record durably, then apply it. Raises StorageError; a
        record that does not fit its kind's schema raises RecordError
        before anything is written (a programming error).
        A new transaction must leave TXN_RESERVE bytes free, so that the
        records that close work (answers, reversals, settlement) still fit
        when the disk fills up."""
        fields["k"] = kind
        self._schemas.check(fields)
        if kind in ("txn", "trace") or fields.get("trace") == self.next_trace():
            # A record that takes a new trace number (txn, trace, settling):
            # the trace mark covers it durably before it can be used.
            self._marks.cover(fields["trace"])
        # A new transaction also leaves room for the next compaction, whose
        # snapshot is never larger than the journal it replaces.
        reserve = TXN_RESERVE + self._journal.size() if kind == "txn" else 0
        self._journal.append(fields, reserve)
        self._apply(fields)
        return fields

    def compact(self):
        """After a settlement: start the journal again from a snapshot, so
        it does not grow for ever, and move the settled batch's approved
        sales into the sale index (a refund still needs them: amount,
        refunded so far, voided, card). Steps, each safe against a power cut:
          1. write the next generation of the sale index beside the current
             one (the settled sales merged in, refunds of older sales folded
             into their lines; the newest MAX_KEPT_TXNS sales in all);
          2. replace the journal, atomically, by a `snapshot` record (counters,
             settled batch numbers, last settlement report, the index
             generation) and `kept` records: receipts still owed and the last
             approved transaction (reprint);
          3. remove the old index generation.
        Call only with no pending work (settlement clears it first)."""
        if not self.batch_is_empty():
            return   # the new batch has begun: compacted at its settlement
        added = []       # index lines of this batch's approved sales (encoded: 160 bytes each in RAM)
        refunds = {}     # rrn of an older sale -> fen refunded against it in this batch
        kept_keys = []
        last = None
        gen = self.index.gen + 1
        for key in self.order:
            kind, state, amount, _, _ = self._brief(key)
            if state != APPROVED:
                continue
            last = key
            txn = self.txns[key]
            if (type(txn) is dict and not txn.get("printed")) or key in self._uploads:
                kept_keys.append(key)   # a receipt or an upload still owed
            if key in self._kept or kind not in (SALE, REFUND):
                continue   # a kept one is in the index already
            txn = self._get(key)
            if kind == SALE:
                if txn.get("rrn"):
                    added.append(encode_line(self._index_entry(txn, gen)))
            else:
                rrn = (txn.get("orig") or {}).get("rrn")
                if rrn and _rrn_key(rrn) not in self._sale_by_rrn:   # else counted in its sale's line
                    refunds[rrn] = refunds.get(rrn, 0) + amount
        old_gen = self.index.gen
        self.index.write_next(added, refunds, MAX_KEPT_TXNS)
        if last is not None and last not in kept_keys:
            kept_keys.append(last)
        keep = []
        for key in self.order:
            if key in kept_keys:
                txn = self._get(key)
                kept = {"k": "kept"}
                for name in KEPT_FIELDS:
                    if name in txn:
                        kept[name] = txn[name]
                keep.append(kept)
        # Every batch number a kept transaction carries counts as settled, so
        # no sign-on can ever reopen it.
        settled = list(self.settled_batches[-20:])
        for kept in keep:
            if kept["batch"] not in settled and kept["batch"] != self.batch:
                settled.append(kept["batch"])
        snapshot = {"k": "snapshot", "batch": self.batch, "last_trace": self.last_trace,
                    "settled": settled, "last_settlement": self.last_settlement, "index": gen}
        for record in [snapshot] + keep:
            self._schemas.check(record)
        try:
            self._journal.replace([snapshot] + keep)
        except StorageError:
            self.index.remove(gen)   # the journal still names the old generation
            raise
        # Again from the new journal: every record's place in it is new.
        self._reset()
        for record in self._journal.replay():
            self._apply(record)
        self.index.remove(old_gen)

    def _index_entry(self, sale, gen):
        """The sale index entry of a settled sale."""
        entry = {"rrn": sale["rrn"], "batch": sale["batch"], "trace": sale["trace"], "amount": sale["amount"],
                 "refunded": self.refunded_total(sale), "gen": gen,
                 "voided": self._approved_void(txn_key(sale["batch"], sale["trace"])) is not None}
        for name in ("pan", "exp", "mode", "pan_sealed"):
            if sale.get(name):
                entry[name] = sale[name]
        return entry

    def _apply(self, r):
        """Fold one record into the state: the handler of its kind."""
        getattr(self, "_on_" + r["k"])(r)

    # One handler a record kind (firmware/records.py has their schemas).

    def _on_batch(self, r):
        self.batch = r["batch"]

    def _on_snapshot(self, r):
        self.index.use(r.get("index", 0))
        self.batch = r["batch"]
        self.last_trace = r["last_trace"]
        self.settled_batches = list(r["settled"])
        self.last_settlement = r["last_settlement"]
        if self.last_settlement:
            self.last_printed = ("settle", self.last_settlement["batch"])

    def _on_kept(self, r):
        # Only for receipts: its refunds and voids are counted in the sale
        # index, so it takes no part in the indices below.
        key = self._add_txn(r)
        self._kept[key] = True
        esign = r.get("esign")
        if esign and not esign.get("done"):
            self._uploads.append(key)
        self._cool(key)

    def _on_trace(self, r):
        self.last_trace = r["trace"]

    def _on_txn(self, r):
        key = self._add_txn(r)
        self.txns[key]["tries"] = 0
        self.last_trace = r["trace"]
        orig = r.get("orig") or {}
        if r["type"] == VOID and "trace" in orig:
            self._voids_of.setdefault(txn_key(orig.get("batch") or 0, orig["trace"]), []).append(key)
        elif r["type"] == REFUND and orig.get("rrn"):
            self._refunds_of.setdefault(orig["rrn"], []).append(key)

    def _add_txn(self, r):
        txn = dict(r)
        del txn["k"]
        key = txn_key(r["batch"], r["trace"])
        self.txns[key] = txn
        self.order.append(key)
        self._where[key] = _u32(self._journal.last_offset)
        return key

    # Records about a transaction already opened: the same steps for every
    # kind, then the kind's own fold (_fold_<kind>, on the txn dict alone,
    # so that a transaction kept on disk is rebuilt by the same code).

    def _on_reply(self, r):
        txn = self._txn_record(r)
        if txn is not None and txn["type"] == SALE and r.get("rrn"):
            self._sale_by_rrn[_rrn_key(r["rrn"])] = txn_key(r["batch"], r["trace"])
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_unknown(self, r):
        txn = self._txn_record(r)
        if txn is not None:
            self._restore_request(txn)

    def _on_offline(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_reversal(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_resend(self, r):
        self._txn_record(r)

    def _on_chip(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_printing(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_printed(self, r):
        if self._txn_record(r) is not None:
            self.last_printed = ("txn", (r["batch"], r["trace"]))
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_sig(self, r):
        key = txn_key(r["batch"], r["trace"])
        if self._txn_record(r) is not None and key not in self._uploads:
            self._uploads.append(key)
        self._cool(key)

    def _on_sig_ack(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_sig_fail(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_sig_paper(self, r):
        self._txn_record(r)
        self._cool(txn_key(r["batch"], r["trace"]))

    def _on_sig_done(self, r):
        key = txn_key(r["batch"], r["trace"])
        self._txn_record(r)
        if key in self._uploads:
            self._uploads.remove(key)
        self._cool(key)

    def _txn_record(self, r):
        key = txn_key(r["batch"], r["trace"])
        txn = self._hot(key)
        if txn is None:
            return None
        self._where[key] += _u32(self._journal.last_offset)
        getattr(self, "_fold_" + r["k"])(txn, r)
        return txn

    def _fold_reply(self, txn, r):
        for name in r:
            if name != "k":
                txn[name] = r[name]
        if txn["state"] in (APPROVED, DECLINED) and "req" in txn:
            # The request only serves a reversal or a resend: a final
            # answer ends that (and it is most of a transaction's RAM).
            del txn["req"]

    def _fold_unknown(self, txn, r):
        txn["state"] = UNKNOWN
        txn["reason"] = r["reason"]

    def _fold_offline(self, txn, r):
        txn["state"] = NOT_SENT

    def _fold_reversal(self, txn, r):
        txn["tries"] = txn.get("tries", 0) + r.get("tries", 1)
        if r["result"] == "done":
            txn["state"] = REVERSED
        elif r["result"] == "failed":
            txn["reversal_failed"] = True

    def _fold_resend(self, txn, r):
        txn["tries"] = txn.get("tries", 0) + 1

    def _fold_chip(self, txn, r):
        txn["tc"] = r["tc"]

    def _fold_printing(self, txn, r):
        if r["reprint"]:
            # Every reprint has its own number (its verification code says
            # which it is), never reused after a power cut.
            txn["reprints"] = max(txn.get("reprints", 0), r["reprint"])
        else:
            txn["copies_started"] = (txn.get("copies_started") or []) + [r["copy"]]

    def _fold_printed(self, txn, r):
        if r.get("copy"):
            txn["copies_printed"] = (txn.get("copies_printed") or []) + [r["copy"]]
        if r.get("all", True):
            txn["printed"] = True

    def _fold_sig(self, txn, r):
        esign = {"mark": r["mark"], "acked": [], "fails": 0}
        for name in ("size", "sha256", "step"):
            if name in r:
                esign[name] = r[name]
        txn["esign"] = esign

    def _fold_sig_ack(self, txn, r):
        esign = txn.get("esign")
        if esign is not None and r["packet"] not in esign["acked"]:
            esign["acked"] = esign["acked"] + [r["packet"]]
            esign["count"] = r["count"]

    def _fold_sig_fail(self, txn, r):
        esign = txn.get("esign")
        if esign is not None:
            esign["fails"] = esign["fails"] + 1

    def _fold_sig_paper(self, txn, r):
        esign = txn.get("esign")
        if esign is not None:
            # The receipt now goes up as signed on paper, without the image:
            # a new upload of one packet (the host takes that paper notice
            # over packets of the image it may hold already).
            esign["paper"] = True
            esign["mark"] = r.get("mark", "W")   # U: a handset with no paper had no slip to sign
            esign["acked"] = []

    def _fold_sig_done(self, txn, r):
        esign = txn.get("esign")
        if esign is not None:
            esign["done"] = True

    def _restore_request(self, txn):
        """An answered transaction that turns out to need reversing after all
        (the card refused the approval): its request back from the journal."""
        if "req" not in txn:
            where = self._where[txn_key(txn["batch"], txn["trace"])]
            record = self._journal.read_record(int.from_bytes(where[:4], "big"))
            if record is not None and "req" in record:
                txn["req"] = record["req"]

    # -- hot and cold transactions -------------------------------------------
    # A transaction with work owed (outcome unknown, receipt not printed) is
    # "hot": its dict stays in RAM. A finished one is "cold": RAM keeps only
    # (type, state, amount, where its records are in the journal, QR wallet) for totals
    # and checks; the whole dict is rebuilt from its records when asked for.

    def _cool(self, key):
        txn = self.txns.get(key)
        if type(txn) is not dict or txn["state"] in (SENT, UNKNOWN, WAITING):
            return
        if txn["state"] == APPROVED and not txn.get("printed"):
            return
        packed = _pack(txn, self._where[key])
        if packed is not None:
            del self._where[key]
            self.txns[key] = packed

    def _hot(self, key):
        """The live dict of a transaction (rebuilt, and kept, if cold), or None."""
        txn = self.txns.get(key)
        if txn is None or type(txn) is dict:
            return txn
        where = _unpack(txn)[3]
        txn = self._rebuilt(key)
        self.txns[key] = txn
        self._where[key] = where
        return txn

    def _get(self, key):
        """The dict of a transaction: live if hot, a rebuilt copy if cold."""
        txn = self.txns.get(key)
        if txn is None or type(txn) is dict:
            return txn
        return self._rebuilt(key)

    def _brief(self, key):
        """(type, state, amount, ...) of a transaction, without rebuilding it."""
        txn = self.txns[key]
        if type(txn) is dict:
            return txn["type"], txn["state"], txn["amount"], None, _channel(txn)
        return _unpack(txn)

    def _rebuilt(self, key):
        txn = None
        txn = self.txns[key]
        where = self._where[key] if type(txn) is dict else _unpack(txn)[3]
        txn = None
        for at in range(0, len(where), 4):
            r = self._journal.read_record(int.from_bytes(where[at:at + 4], "big"))
            if r is None:
                continue   # the file changed under us: what can be read stands
            if r["k"] in ("txn", "kept"):
                txn = dict(r)
                del txn["k"]
                if r["k"] == "txn":
                    txn["tries"] = 0
            elif txn is not None:
                getattr(self, "_fold_" + r["k"])(txn, r)
        if txn is None:
            brief = self._brief(key)   # unreadable: what RAM knows
            txn = {"batch": key // KEY_BASE, "trace": key % KEY_BASE, "type": brief[0], "state": brief[1],
                   "amount": brief[2]}
        return txn

    def _on_settling(self, r):
        # Opened before the 0500 leaves; a result closes it unsettled (the
        # host refused it or never saw it); `settle` closes it settled.
        if "result" in r:
            self.settling = None
        else:
            self.settling = {"batch": r["batch"], "trace": r["trace"]}
            self.last_trace = r["trace"]  # the record takes the 0500's trace

    def _on_settle(self, r):
        # One record closes the batch AND opens the next: no power cut can
        # leave the terminal working on in a batch the host has settled.
        self.settling = None
        self.settled_batches.append(r["batch"])
        self.last_settlement = r["report"]
        self.last_printed = ("settle", r["batch"])
        if self.batch == r["batch"]:
            self.batch = 1 if r["batch"] >= MAX_BATCH else r["batch"] + 1

    # -- numbers -----------------------------------------------------------------

    def next_trace(self):
        """The next trace number (STAN, 凭证号), 1..999999. It is only
        reserved once a record carrying it is journaled."""
        return _trace_after(self.last_trace)

    def reserve_trace(self):
        """Take a trace number for a message that has no txn record
        (sign-on, echo, settlement)."""
        trace = self.next_trace()
        self.record("trace", trace=trace)
        return trace

    # -- questions the flows ask ------------------------------------------------

    def find(self, batch, trace):
        return self._get(txn_key(batch, trace))

    def find_in_batch(self, trace):
        return self._get(txn_key(self.batch, trace))

    def find_trace_any_batch(self, trace):
        """Newest transaction with that trace, in any batch (RAM, then the
        sale index: a scan, only for the void flow's error message)."""
        for key in self.order.backwards():
            if key % KEY_BASE == trace:
                return self._get(key)
        return self._indexed_sale(self.index.find_trace(trace))

    def find_by_rrn(self, rrn):
        """The sale with this RRN: in the current batch (O(1)), else in the
        sale index of settled batches (O(log n) reads)."""
        key = self._sale_by_rrn.get(_rrn_key(rrn))
        if key is not None:
            return self._get(key)
        return self._indexed_sale(self.index.find(rrn))

    def _indexed_sale(self, entry):
        if entry is None:
            return None
        sale = dict(entry)
        del sale["gen"]
        sale["type"] = SALE
        sale["state"] = APPROVED
        sale["indexed"] = True
        return sale

    def iter_batch(self, batch=None):
        """The batch's transactions one at a time (a settled one: those
        still in RAM), never all rebuilt at once."""
        batch = self.batch if batch is None else batch
        for key in self.order:
            if key // KEY_BASE == batch:
                yield self._get(key)

    def batch_txns(self, batch=None):
        return list(self.iter_batch(batch))

    def transactions(self):
        """{(batch, trace): txn} of every transaction in RAM, each rebuilt
        whole: for tests and tools on a desktop (on a handset it would
        hold a whole batch of dicts at once)."""
        return dict(((key // KEY_BASE, key % KEY_BASE), self._get(key)) for key in self.order)

    def batch_is_empty(self):
        for key in self.order:
            if key // KEY_BASE == self.batch:
                return False
        return True

    def voided_by(self, sale):
        """The approved void of this sale (or True for a settled sale that
        was voided), or None. O(voids of the sale)."""
        if sale.get("voided"):
            return True
        key = self._approved_void(txn_key(sale["batch"], sale["trace"]))
        return self._get(key) if key is not None else None

    def _approved_void(self, sale_key):
        for key in self._voids_of.get(sale_key) or ():
            if key in self.txns and self._brief(key)[1] == APPROVED:
                return key
        return None

    def pending_children(self, sale, kind):
        return [self._get(k) for k in self._children(sale, kind)
                if self._brief(k)[1] in (SENT, UNKNOWN, UNCONFIRMED)]

    def refunded_total(self, sale):
        """Fen refunded so far against this sale (approved refunds).
        O(refunds of the sale)."""
        # `refunded`: what settled batches refunded (the sale index's count)
        total = sale.get("refunded", 0)
        for key in self._children(sale, REFUND):
            kind, state, amount, _, _ = self._brief(key)
            if state == APPROVED:
                total += amount
        return total

    def _children(self, sale, kind):
        if kind == VOID:
            keys = self._voids_of.get(txn_key(sale["batch"], sale["trace"])) or ()
        else:
            keys = (self._refunds_of.get(sale["rrn"]) or ()) if sale.get("rrn") else ()
        return [key for key in keys if key in self.txns]

    def _hot_where(self, test):
        """Hot transactions (work owed) that pass test(txn), in journal order."""
        return [self.txns[k] for k in self.order if type(self.txns[k]) is dict and test(self.txns[k])]

    def pending_reversals(self):
        """Sales and voids whose outcome is unknown: the host may have
        applied them, so they must be reversed before anything else."""
        return self._hot_where(lambda t: t["state"] in (SENT, UNKNOWN, WAITING) and t["type"] in (SALE, VOID))

    def pending_refunds(self):
        """Refunds sent without a usable answer: resent with the same trace."""
        return self._hot_where(lambda t: t["state"] in (SENT, UNKNOWN) and t["type"] == REFUND)

    def pending_uploads(self):
        """Approved transactions whose e-receipt upload (firmware/signatures.py)
        is owed, in journal order, each rebuilt."""
        return [txn for txn in [self._get(key) for key in self._uploads] if txn is not None]

    def upload_owed(self, batch, trace):
        return txn_key(batch, trace) in self._uploads

    def unprinted(self):
        return self._hot_where(lambda t: t["state"] == APPROVED and not t.get("printed"))

    def last_txn(self):
        for key in self.order.backwards():
            if self._brief(key)[1] == APPROVED:
                return self._get(key)
        return None

    def totals(self, batch=None):
        """Card settlement totals of a batch in fen, as the host counts them
        (F48 carries cards only; QR payments are the wallets'): sales still standing (approved, not voided; reversed ones are not
        approved), voids, refunds. F48's debit is the sales line, its credit
        the refunds line. One pass over the batch's (type, state, amount),
        O(1) a transaction: no transaction is rebuilt."""
        batch = self.batch if batch is None else batch
        totals = {"sale_amount": 0, "sale_count": 0, "void_amount": 0, "void_count": 0,
                  "refund_amount": 0, "refund_count": 0}
        for key in self.order:
            if key // KEY_BASE != batch:
                continue
            kind, state, amount, _, channel = self._brief(key)
            if state != APPROVED or channel is not None:
                continue        # QR payments are not card totals (channel_totals has them)
                continue
            if kind == SALE and self._approved_void(key) is not None:
                continue
            totals[kind + "_amount"] += amount
            totals[kind + "_count"] += 1
        return totals

    def channel_totals(self, batch=None):
        """QR payments of a batch by wallet: {channel: {"amount", "count"}},
        approved sales still standing."""
        batch = self.batch if batch is None else batch
        out = {}
        for key in self.order:
            if key // KEY_BASE != batch:
                continue
            kind, state, amount, _, channel = self._brief(key)
            if state != APPROVED or channel is None or kind != SALE:
                continue
            if self._approved_void(key) is not None:
                continue
            row = out.setdefault(channel, {"amount": 0, "count": 0})
            row["amount"] += amount
            row["count"] += 1
        return out
