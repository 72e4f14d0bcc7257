"""The journal's record kinds: one schema a kind, in this one place.

A schema names a kind's required fields and its optional ones, each with
the types its value may have (JSON types: int, str, bool, dict, list, None).
Every record has "k", its kind. firmware/terminal.py has one handler a
kind (TerminalState._on_<kind>); a kind added here needs its handler there.

check() is used twice:
  - on write (TerminalState.record): a record that does not fit is a
    programming error, raised at once, before anything reaches the disk;
  - at boot, on every record read back: one that decodes but does not fit
    is quarantined (firmware/terminal.py), it never stops the boot.
"""

INT = (int,)
STR = (str,)
BOOL = (bool,)
DICT = (dict,)
LIST = (list,)
NONE = type(None)
OPT_STR = (str, NONE)
OPT_DICT = (dict, NONE)
# A bool is an int to isinstance(): types are compared exactly instead, so
# an amount of `true` never passes as 1 fen.

KEY = {"batch": INT, "trace": INT}

# A dict among a field's types is a nested schema: the value is an object
# with those fields (others allowed). The settlement report is printed
# again from the journal (reprint), so it must have what the slip needs.
TOTALS = {"sale_amount": INT, "sale_count": INT, "void_amount": INT, "void_count": INT,
          "refund_amount": INT, "refund_count": INT}
REPORT = ({"batch": INT, "time": STR, "totals": (TOTALS,), "balanced": BOOL},)
OPT_REPORT = REPORT + (NONE,)

# What a transaction's own record carries besides batch and trace. `txn`
# opens it; `kept` is the condensed copy compact() writes after a settlement.
TXN_REQUIRED = {"type": STR, "amount": INT, "state": STR}
TXN_OPTIONAL = {"mti": STR, "time": STR, "op": STR, "req": DICT, "pan": OPT_STR, "exp": OPT_STR,
                "mode": OPT_STR, "pan_sealed": OPT_STR, "aid": OPT_STR, "orig": DICT, "channel": STR,
                "order": STR, "cvm": STR, "pin": BOOL}
KEPT_OPTIONAL = {"rc": STR, "rrn": STR, "auth": STR, "host_date": STR, "host_time": STR, "settle_date": STR,
                 "tc": OPT_STR, "refunded": INT, "voided": BOOL, "printed": BOOL, "copies_printed": LIST,
                 "copies_started": LIST, "reprints": INT, "esign": DICT}


def _join(*parts):
    joined = {}
    for part in parts:
        joined.update(part)
    return joined


def _schemas():
    # kind: (required fields, optional fields)
    return {
        "batch": ({"batch": INT}, {}),
        "trace": ({"trace": INT}, {}),
        "txn": (_join(KEY, TXN_REQUIRED), TXN_OPTIONAL),
        "reply": (_join(KEY, {"state": STR, "rc": STR}),
                  {"rrn": STR, "auth": STR, "host_date": STR, "host_time": STR, "settle_date": STR, "order": STR, "channel": STR, "code_text": STR}),
        "unknown": (_join(KEY, {"reason": STR}), {}),
        "offline": (_join(KEY, {"reason": STR}), {}),
        "reversal": (_join(KEY, {"result": STR}), {"tries": INT, "rc": STR}),
        "resend": (KEY, {}),
        "chip": (_join(KEY, {"tc": STR}), {}),
        "printing": (_join(KEY, {"copy": STR, "reprint": INT}), {}),
        "printed": (KEY, {"copy": OPT_STR, "all": BOOL}),
        "settling": ({"batch": INT, "trace": INT}, {"result": STR}),
        "settle": ({"batch": INT, "report": REPORT}, {}),
        "snapshot": ({"batch": INT, "last_trace": INT, "settled": LIST, "last_settlement": OPT_REPORT},
                     {"index": INT}),
        "kept": (_join(KEY, TXN_REQUIRED), _join(TXN_OPTIONAL, KEPT_OPTIONAL)),
        # The e-receipt / e-signature upload of an approved transaction
        # (firmware/signatures.py). `sig` opens it: FF30's mark, and for a
        # signature on the screen (S) the size and SHA-256 of the image,
        # which lives in its own file (sig/<batch>-<trace>.sg), never here.
        "sig": (_join(KEY, {"mark": STR}), {"size": INT, "sha256": STR, "step": INT}),
        "sig_ack": (_join(KEY, {"packet": INT, "count": INT}), {}),   # the host stored this packet
        "sig_fail": (KEY, {"code": STR}),                            # a failed round
        "sig_paper": (KEY, {"reason": STR, "mark": STR}),            # the paper slip to sign instead (mark U: no paper)
        "sig_done": (KEY, {}),                                        # every packet stored
    }


def _misfit(value, types):
    """Why `value` is none of `types` (a dict among them: a nested schema),
    or None."""
    for allowed in types:
        if type(allowed) is dict:
            if type(value) is dict:
                for name in allowed:
                    if name not in value:
                        return "lacks %s" % name
                    problem = _misfit(value[name], allowed[name])
                    if problem:
                        return "%s %s" % (name, problem)
                return None
        elif type(value) is allowed:
            return None
    return "is %s" % type(value).__name__


class RecordSchemas:
    """The table, built once per journal (no module-level mutable state)."""

    def __init__(self):
        self.kinds = _schemas()

    def problem(self, record):
        """Why `record` does not fit its kind's schema, or None if it does."""
        if not isinstance(record, dict):
            return "not an object"
        kind = record.get("k")
        schema = self.kinds.get(kind) if type(kind) is str else None
        if schema is None:
            return "unknown kind %r" % (kind,)
        required, optional = schema
        for name in required:
            if name not in record:
                return "%s: missing %s" % (kind, name)
            types = required[name]
            if type(record[name]) not in types:   # the fast path: a plain type that fits
                problem = _misfit(record[name], types)
                if problem:
                    return "%s: %s %s" % (kind, name, problem)
        if len(record) == len(required) + 1:
            return None   # no optional field
        for name in record:
            if name == "k" or name in required:
                continue
            types = optional.get(name)
            if types is None:
                return "%s: unexpected field %s" % (kind, name)
            if type(record[name]) not in types:
                problem = _misfit(record[name], types)
                if problem:
                    return "%s: %s %s" % (kind, name, problem)
        return None

    def check(self, record):
        """Raise RecordError unless `record` fits its schema (writing one
        that does not is a programming error)."""
        problem = self.problem(record)
        if problem:
            raise RecordError(problem)


class RecordError(ValueError):
    """A record that does not fit its kind's schema."""
