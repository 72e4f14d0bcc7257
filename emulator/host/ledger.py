"""The acquirer host's books, in SQLite: card accounts, terminals and their
working keys and batches, every transaction, refunded totals, reversals,
settlements and batch uploads.

One connection, guarded by a lock: the server runs on an asyncio loop
(possibly in a background thread) while tests query from their own thread.
A request is decided and booked inside one `with ledger.transaction():`
block, so a money movement and the records that explain it are committed
together or not at all.
"""

import datetime
import sqlite3
import threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    pan TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    pin TEXT,
    balance INTEGER NOT NULL,
    expiry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminals (
    tid TEXT PRIMARY KEY,
    mid TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    batch INTEGER NOT NULL DEFAULT 1,
    pin_key BLOB,
    mac_key BLOB,
    track_key BLOB,
    signed_on_at TEXT
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    tid TEXT NOT NULL,
    mid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    trace INTEGER NOT NULL,
    mti TEXT NOT NULL,
    proc_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    pan TEXT,
    pan_masked TEXT,
    rrn TEXT,
    auth_code TEXT,
    host_date TEXT NOT NULL,
    host_time TEXT NOT NULL,
    status TEXT NOT NULL,
    response_code TEXT NOT NULL,
    orig_id INTEGER REFERENCES transactions(id),
    orig_batch INTEGER,
    orig_trace INTEGER,
    orig_rrn TEXT,
    orig_date TEXT,
    settled INTEGER NOT NULL DEFAULT 0,
    request_key TEXT
);
CREATE INDEX IF NOT EXISTS transactions_by_trace ON transactions (tid, batch, trace);
CREATE INDEX IF NOT EXISTS transactions_by_rrn ON transactions (rrn);
CREATE INDEX IF NOT EXISTS transactions_by_original ON transactions (orig_id);
CREATE TABLE IF NOT EXISTS refunded (
    orig_id INTEGER PRIMARY KEY REFERENCES transactions(id),
    amount INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reversals (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    tid TEXT NOT NULL,
    mid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    trace INTEGER NOT NULL,
    amount INTEGER,
    reason TEXT,
    orig_id INTEGER REFERENCES transactions(id),
    effect TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settlements (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    tid TEXT NOT NULL,
    mid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    terminal_totals TEXT NOT NULL,
    host_totals TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_uploads (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    tid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    network_code TEXT NOT NULL,
    trace INTEGER,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS qr_wallets (
    code TEXT PRIMARY KEY REFERENCES accounts(pan),
    pays TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS qr_orders (
    order_no TEXT PRIMARY KEY,
    txn_id INTEGER NOT NULL REFERENCES transactions(id),
    channel TEXT,
    code TEXT,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    tid TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    tid TEXT PRIMARY KEY,
    expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signatures (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    txn_id INTEGER NOT NULL REFERENCES transactions(id),
    tid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    trace INTEGER NOT NULL,
    rrn TEXT NOT NULL,
    packet_count INTEGER NOT NULL,
    receipt_tlvs BLOB,
    cvm TEXT,
    paper INTEGER NOT NULL DEFAULT 0,
    image BLOB,
    width INTEGER,
    height INTEGER,
    completed_at TEXT,
    UNIQUE (tid, batch, trace)
);
CREATE TABLE IF NOT EXISTS signature_packets (
    signature_id INTEGER NOT NULL REFERENCES signatures(id),
    number INTEGER NOT NULL,
    packet BLOB NOT NULL,
    receipt_tlvs BLOB,
    received_at TEXT NOT NULL,
    PRIMARY KEY (signature_id, number)
);
CREATE TABLE IF NOT EXISTS signature_receipt (
    signature_id INTEGER NOT NULL REFERENCES signatures(id),
    position INTEGER NOT NULL,
    tag INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (signature_id, position)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

# Kinds of transaction that move money and can be the original of a void,
# a refund or a reversal.
FINANCIAL_KINDS = ("sale", "void", "refund")


def mask_pan(pan):
    """First 6 and last 4 digits, the rest as '*' (the house rule)."""
    if not pan:
        return pan
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


class Ledger:
    def __init__(self, db_path):
        self.db_path = str(db_path)
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves,
        # so a transaction spans exactly one request's decision.
        self._conn = sqlite3.connect(self.db_path, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._conn.executescript(SCHEMA)
            columns = [row[1] for row in self._conn.execute("PRAGMA table_info(transactions)")]
            if "request_key" not in columns:
                # A ledger file from before repeats were compared on the
                # whole request: its rows have no key (never a true repeat).
                self._conn.execute("ALTER TABLE transactions ADD COLUMN request_key TEXT")
            columns = [row[1] for row in self._conn.execute("PRAGMA table_info(terminals)")]
            if "track_key" not in columns:
                # A ledger file from before track data keys.
                self._conn.execute("ALTER TABLE terminals ADD COLUMN track_key BLOB")

    def close(self):
        with self._lock:
            self._conn.close()

    # -- transactions -------------------------------------------------------

    def transaction(self):
        return _Transaction(self)

    def _sql(self, sql, args=()):
        with self._lock:
            return self._conn.execute(sql, args)

    def _one(self, sql, args=()):
        # Execute and fetch under the lock: the connection is shared by the
        # server's thread and the tests' thread.
        with self._lock:
            row = self._conn.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def _all(self, sql, args=()):
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [dict(row) for row in rows]

    # -- accounts -----------------------------------------------------------

    def seed_accounts(self, cards):
        """Open an account for each card the host knows. An existing account
        keeps its balance: a ledger file survives restarts."""
        with self.transaction():
            for card in cards:
                if not card.on_host:
                    continue
                self._sql("INSERT OR IGNORE INTO accounts (pan, name, pin, balance, expiry)"
                          " VALUES (?, ?, ?, ?, ?)",
                          (card.pan, card.name, card.pin, card.balance, card.expiry))

    def account(self, pan):
        return self._one("SELECT * FROM accounts WHERE pan = ?", (pan,))

    def adjust_balance(self, pan, delta):
        self._sql("UPDATE accounts SET balance = balance + ? WHERE pan = ?", (delta, pan))

    def balance(self, pan):
        row = self._one("SELECT balance FROM accounts WHERE pan = ?", (pan,))
        if row is None:
            raise KeyError("no account for card %s" % mask_pan(pan))
        return row["balance"]

    # -- terminals ----------------------------------------------------------

    def terminal(self, tid):
        return self._one("SELECT * FROM terminals WHERE tid = ?", (tid,))

    def mark_unknown(self, tid):
        with self.transaction():
            self._sql("INSERT INTO terminals (tid, status) VALUES (?, 'unknown')"
                      " ON CONFLICT(tid) DO UPDATE SET status = 'unknown'", (tid,))

    def sign_on(self, tid, mid, pin_key, mac_key, when, track_key=None):
        """Register the terminal on its first sign-on and store new working
        keys (track_key None: the terminal did not ask for one); returns the
        terminal's row (with its current batch)."""
        self._sql("INSERT INTO terminals (tid, mid, pin_key, mac_key, track_key, signed_on_at)"
                  " VALUES (?, ?, ?, ?, ?, ?)"
                  " ON CONFLICT(tid) DO UPDATE SET mid = excluded.mid,"
                  " pin_key = excluded.pin_key, mac_key = excluded.mac_key,"
                  " track_key = excluded.track_key, signed_on_at = excluded.signed_on_at",
                  (tid, mid, pin_key, mac_key, track_key, when))
        return self.terminal(tid)

    def set_service_expiry(self, tid, expires):
        """The end of the terminal's service term, YYYYMMDD (None: no term)."""
        with self.transaction():
            if expires is None:
                self._sql("DELETE FROM services WHERE tid = ?", (tid,))
            else:
                self._sql("INSERT INTO services (tid, expires) VALUES (?, ?)"
                          " ON CONFLICT(tid) DO UPDATE SET expires = excluded.expires", (tid, expires))

    def service_expiry(self, tid):
        row = self._one("SELECT expires FROM services WHERE tid = ?", (tid,))
        return row["expires"] if row else None

    def advance_batch(self, tid, settled_batch):
        """Close `settled_batch` for the terminal: its transactions are
        settled, and the terminal's current batch becomes the next one."""
        self._sql("UPDATE transactions SET settled = 1 WHERE tid = ? AND batch = ?",
                  (tid, settled_batch))
        self._sql("UPDATE terminals SET batch = MAX(batch, ?) WHERE tid = ?",
                  (settled_batch % 999999 + 1, tid))

    # -- counters -----------------------------------------------------------

    def next_counter(self, name):
        self._sql("INSERT INTO counters (name, value) VALUES (?, 1)"
                  " ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
        return self._one("SELECT value FROM counters WHERE name = ?", (name,))["value"]

    # -- transactions table -------------------------------------------------

    def add_transaction(self, **row):
        row.setdefault("created_at", _now_iso())
        if row.get("pan"):
            row["pan_masked"] = mask_pan(row["pan"])
        names = sorted(row)
        cur = self._sql("INSERT INTO transactions (%s) VALUES (%s)"
                        % (", ".join(names), ", ".join("?" for _ in names)),
                        [row[n] for n in names])
        return cur.lastrowid

    def set_status(self, txn_id, status):
        self._sql("UPDATE transactions SET status = ? WHERE id = ?", (status, txn_id))

    def transaction_by_id(self, txn_id):
        return self._one("SELECT * FROM transactions WHERE id = ?", (txn_id,))

    def find_by_trace(self, tid, batch, trace, kinds=FINANCIAL_KINDS):
        """The latest transaction this terminal booked under (batch, trace)."""
        return self._one(
            "SELECT * FROM transactions WHERE tid = ? AND batch = ? AND trace = ?"
            " AND kind IN (%s) ORDER BY id DESC LIMIT 1" % ", ".join("?" for _ in kinds),
            (tid, batch, trace) + tuple(kinds))

    def find_by_rrn(self, rrn, kinds=("sale",)):
        return self._all(
            "SELECT * FROM transactions WHERE rrn = ? AND kind IN (%s) ORDER BY id"
            % ", ".join("?" for _ in kinds), (rrn,) + tuple(kinds))

    def transactions(self, tid=None):
        if tid is None:
            return self._all("SELECT * FROM transactions ORDER BY id")
        return self._all("SELECT * FROM transactions WHERE tid = ? ORDER BY id", (tid,))

    def batch_totals(self, tid, batch):
        """(sale amount, sale count, refund amount, refund count) of the cards
        still standing in the batch: voided and reversed ones are out, and so
        are QR payments (their wallets are not cards: F48 keeps them apart)."""
        totals = {}
        for kind in ("sale", "refund"):
            row = self._one("SELECT COALESCE(SUM(amount), 0) AS amount, COUNT(*) AS count"
                            " FROM transactions WHERE tid = ? AND batch = ? AND kind = ?"
                            " AND status = 'approved'"
                            " AND (pan IS NULL OR pan NOT IN (SELECT code FROM qr_wallets))",
                            (tid, batch, kind))
            totals[kind] = (row["amount"], row["count"])
        return totals["sale"] + totals["refund"]

    # -- refunds ------------------------------------------------------------

    def refunded(self, orig_id):
        row = self._one("SELECT amount FROM refunded WHERE orig_id = ?", (orig_id,))
        return row["amount"] if row else 0

    def add_refunded(self, orig_id, delta):
        self._sql("INSERT INTO refunded (orig_id, amount) VALUES (?, ?)"
                  " ON CONFLICT(orig_id) DO UPDATE SET amount = amount + excluded.amount",
                  (orig_id, delta))

    def standing_voids_and_refunds(self, orig_id):
        """The voids and refunds of transaction `orig_id` that stand, oldest
        first: approved and not reversed since (a reversal sets a row's
        status to 'reversed' and undoes its effect on the original)."""
        return self._all("SELECT * FROM transactions WHERE orig_id = ? AND kind IN ('void', 'refund')"
                         " AND response_code = '00' AND status = 'approved' ORDER BY id", (orig_id,))

    def refunded_total(self, rrn):
        row = self._one("SELECT COALESCE(SUM(r.amount), 0) AS amount FROM refunded r"
                        " JOIN transactions t ON t.id = r.orig_id WHERE t.rrn = ?", (rrn,))
        return row["amount"]

    # -- reversals, settlements, uploads ------------------------------------

    def _insert(self, table, row):
        row.setdefault("created_at", _now_iso())
        names = sorted(row)
        self._sql("INSERT INTO %s (%s) VALUES (%s)"
                  % (table, ", ".join(names), ", ".join("?" for _ in names)),
                  [row[n] for n in names])

    def _rows(self, table, tid):
        if tid is None:
            return self._all("SELECT * FROM %s ORDER BY id" % table)
        return self._all("SELECT * FROM %s WHERE tid = ? ORDER BY id" % table, (tid,))

    def add_reversal(self, **row):
        self._insert("reversals", row)

    def reversals(self, tid=None):
        return self._rows("reversals", tid)

    def add_settlement(self, **row):
        self._insert("settlements", row)

    def settlement_of(self, tid, batch):
        """The first settlement of this terminal's batch, or None."""
        return self._one("SELECT * FROM settlements WHERE tid = ? AND batch = ? ORDER BY id LIMIT 1",
                         (tid, batch))

    def settlements(self, tid=None):
        return self._rows("settlements", tid)

    def add_batch_upload(self, **row):
        self._insert("batch_uploads", row)

    def batch_uploads(self, tid=None):
        return self._rows("batch_uploads", tid)

    # -- electronic signatures (emulator/host/signatures.py) ---------------

    def signature_of(self, tid, batch, trace):
        return self._one("SELECT * FROM signatures WHERE tid = ? AND batch = ? AND trace = ?",
                         (tid, batch, trace))

    def signature_by_id(self, signature_id):
        return self._one("SELECT * FROM signatures WHERE id = ?", (signature_id,))

    def signatures(self, tid=None):
        return self._rows("signatures", tid)

    def add_signature(self, **row):
        row.setdefault("created_at", _now_iso())
        names = sorted(row)
        cur = self._sql("INSERT INTO signatures (%s) VALUES (%s)"
                        % (", ".join(names), ", ".join("?" for _ in names)), [row[n] for n in names])
        return cur.lastrowid

    def update_signature(self, signature_id, **changes):
        names = sorted(changes)
        self._sql("UPDATE signatures SET %s WHERE id = ?" % ", ".join("%s = ?" % n for n in names),
                  [changes[n] for n in names] + [signature_id])

    def delete_signature(self, signature_id):
        """The signature with its packets and receipt fields (an upload refused whole)."""
        for table in ("signature_packets", "signature_receipt"):
            self._sql("DELETE FROM %s WHERE signature_id = ?" % table, (signature_id,))
        self._sql("DELETE FROM signatures WHERE id = ?", (signature_id,))

    def signature_packet(self, signature_id, number):
        return self._one("SELECT * FROM signature_packets WHERE signature_id = ? AND number = ?",
                         (signature_id, number))

    def signature_packets(self, signature_id):
        return self._all("SELECT * FROM signature_packets WHERE signature_id = ? ORDER BY number",
                         (signature_id,))

    def add_signature_packet(self, signature_id, number, packet, receipt_tlvs):
        self._sql("INSERT INTO signature_packets (signature_id, number, packet, receipt_tlvs, received_at)"
                  " VALUES (?, ?, ?, ?, ?)", (signature_id, number, packet, receipt_tlvs, _now_iso()))

    def drop_signature_packets(self, signature_id):
        self._sql("DELETE FROM signature_packets WHERE signature_id = ?", (signature_id,))

    def set_signature_receipt(self, signature_id, tlvs):
        """The receipt fields of F55, parsed: [(tag, value bytes)] in their order."""
        self._sql("DELETE FROM signature_receipt WHERE signature_id = ?", (signature_id,))
        for position, (tag, value) in enumerate(tlvs):
            self._sql("INSERT INTO signature_receipt (signature_id, position, tag, value) VALUES (?, ?, ?, ?)",
                      (signature_id, position, tag, bytes(value)))

    def signature_receipt(self, signature_id):
        """-> [(tag, value bytes)] in the order they came."""
        return [(row["tag"], row["value"]) for row in self._all(
            "SELECT tag, value FROM signature_receipt WHERE signature_id = ? ORDER BY position",
            (signature_id,))]

    def find_receipt_transactions(self, rrn, tid=None):
        """Approved transactions with this RRN (of this terminal, if given)."""
        if tid is None:
            return self._all("SELECT * FROM transactions WHERE rrn = ? AND response_code = '00' ORDER BY id",
                             (rrn,))
        return self._all("SELECT * FROM transactions WHERE rrn = ? AND tid = ? AND response_code = '00'"
                         " ORDER BY id", (rrn, tid))

    def count_applied(self, kind):
        """How many requests of `kind` changed the books: sales, voids and
        refunds that were approved (even if later voided or reversed),
        reversals that undid something, settlements, batch uploads,
        sign-ons."""
        if kind in FINANCIAL_KINDS:
            row = self._one("SELECT COUNT(*) AS n FROM transactions WHERE kind = ?"
                            " AND status != 'declined'", (kind,))
        elif kind == "reversal":
            row = self._one("SELECT COUNT(*) AS n FROM reversals WHERE effect = 'undone'")
        elif kind == "settlement":
            row = self._one("SELECT COUNT(*) AS n FROM settlements")
        elif kind == "batch_upload":
            row = self._one("SELECT COUNT(*) AS n FROM batch_uploads")
        elif kind == "signon":
            row = self._one("SELECT COUNT(*) AS n FROM terminals WHERE signed_on_at IS NOT NULL")
        else:
            raise ValueError("unknown kind %r (sale, void, refund, reversal, settlement,"
                             " batch_upload, signon)" % (kind,))
        return row["n"]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the ledger's lock; nested use joins
    the outer transaction (a helper called from inside a handler)."""

    def __init__(self, ledger):
        self.ledger = ledger

    def __enter__(self):
        ledger = self.ledger
        ledger._lock.acquire()
        if ledger._depth == 0:
            ledger._conn.execute("BEGIN IMMEDIATE")
        ledger._depth += 1
        return ledger

    def __exit__(self, exc_type, exc, tb):
        ledger = self.ledger
        try:
            ledger._depth -= 1
            if ledger._depth == 0:
                if exc_type is None:
                    ledger._conn.execute("COMMIT")
                else:
                    ledger._conn.execute("ROLLBACK")
        finally:
            ledger._lock.release()
        return False


def _now_iso():
    return datetime.datetime.now().isoformat(timespec="milliseconds")
