"""Fault injection for the host simulator: make the host misbehave the way a
real network or acquirer does, so the terminal's recovery can be tested.

A fault is armed with `faults.add(kind, mti=None, count=1, ...)` and fires on
the next `count` requests whose MTI matches (`mti=None`: any request; for
"refuse", any new connection). `count=None` keeps it armed until `clear()`.

Kinds (applied = booked in the ledger as if all went well):
  delay        apply, answer after `delay_ms`
  drop         apply, close the connection without a reply
  drop_before  close the connection without a reply, nothing applied
  no_reply     apply, keep the connection open and never answer
  bad_mac      apply, answer with a wrong MAC
  garbage      apply, answer a length-prefixed frame of random bytes (its
               MTI is never BCD, so it never decodes by chance)
  decline      do not apply, answer with F39 = `code` (default "96")
  unsigned     apply, answer with F39 = `code` (default "A0") and no MAC and
               no approval data: what a forger on the line (or a confused
               front end) sends; never an answer for the terminal
  refuse       reset each new connection as soon as it is accepted

Electronic signature uploads (0820 with 60.3 = 800, docs/ESIGN.md) have
kinds of their own, which fire on uploads only (an echo test or any other
0820 passes): the signature service down while payments go on.
  esign_down        do not store, answer with F39 = `code` (default "96")
  esign_drop        store the packet, close the connection without a reply
                    (the terminal resends it: a true repeat, answered 00)
  esign_drop_before close the connection without a reply, nothing stored
The other kinds with mti "0820" hit uploads and echo tests alike.
"""

import threading

KINDS = ("delay", "drop", "drop_before", "no_reply", "bad_mac", "garbage", "decline", "unsigned",
         "refuse", "esign_down", "esign_drop", "esign_drop_before")
# Kinds that answer with a field 39 of the fault's own (`code`), and its default.
CODE_KINDS = {"decline": "96", "unsigned": "A0", "esign_down": "96"}
# The e-signature kinds: each fires on uploads only and then acts as this kind.
UPLOAD_KINDS = {"esign_down": "decline", "esign_drop": "drop", "esign_drop_before": "drop_before"}

# Kinds after which the request has been booked: the terminal cannot know
# whether it was, which is what its reversal logic is for.
APPLYING_KINDS = ("delay", "drop", "no_reply", "bad_mac", "garbage", "unsigned")


class Fault:
    def __init__(self, kind, mti=None, count=1, delay_ms=None, code=None):
        if kind not in KINDS:
            raise ValueError("unknown fault kind %r (known: %s)" % (kind, ", ".join(KINDS)))
        if mti is not None:
            mti = str(mti)
            if len(mti) != 4 or not mti.isdigit():
                raise ValueError("fault MTI must be 4 digits, not %r" % (mti,))
        if count is not None and count < 1:
            raise ValueError("fault count must be >= 1 or None (forever), not %r" % (count,))
        if kind == "delay" and delay_ms is None:
            delay_ms = 3000
        if delay_ms is not None and kind != "delay":
            raise ValueError("delay_ms only applies to the 'delay' fault")
        if kind in UPLOAD_KINDS and mti not in (None, "0820"):
            raise ValueError("%s fires on uploads (0820) only, not on %s" % (kind, mti))
        if code is not None and kind not in CODE_KINDS:
            raise ValueError("code only applies to the %s faults" % " and ".join(sorted(CODE_KINDS)))
        if kind in CODE_KINDS:
            code = CODE_KINDS[kind] if code is None else str(code)
            if len(code) != 2:
                raise ValueError("%s code must be 2 characters (field 39), not %r" % (kind, code))
        self.kind = kind
        self.mti = mti
        self.remaining = count
        self.delay_ms = delay_ms
        self.code = code
        self.fired = 0

    @property
    def acts_as(self):
        """What the server does: the kind itself, or for an e-signature kind its plain kind."""
        return UPLOAD_KINDS.get(self.kind, self.kind)

    @property
    def applies_request(self):
        return self.acts_as in APPLYING_KINDS

    def matches(self, mti, upload):
        if self.kind == "refuse":
            return False
        if self.kind in UPLOAD_KINDS:
            return upload
        return self.mti is None or self.mti == mti

    def __repr__(self):
        return "Fault(%s, mti=%s, remaining=%s, fired=%d)" % (
            self.kind, self.mti, "forever" if self.remaining is None else self.remaining,
            self.fired)


class Faults:
    """The armed faults, in the order they were added; safe to arm from a
    test thread while the server runs on its loop thread."""

    def __init__(self):
        self._armed = []
        self._lock = threading.Lock()

    def add(self, kind, mti=None, count=1, delay_ms=None, code=None):
        fault = Fault(kind, mti=mti, count=count, delay_ms=delay_ms, code=code)
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._armed = []

    def pending(self):
        with self._lock:
            return list(self._armed)

    def take_for_request(self, mti, upload=False):
        """The first armed request fault matching `mti` (`upload`: the
        request is an e-signature upload), used up once; None if there is
        none."""
        return self._take(lambda f: f.matches(mti, upload))

    def take_for_connection(self):
        return self._take(lambda f: f.kind == "refuse")

    def _take(self, matches):
        with self._lock:
            for fault in self._armed:
                if matches(fault):
                    fault.fired += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._armed.remove(fault)
                    return fault
        return None


def parse_fault_spec(spec):
    """'kind[:mti[:count[:arg]]]' from the command line -> Faults.add()
    keyword arguments. An empty or '*' MTI matches any request; count '*'
    or 0 is forever; arg is delay_ms for 'delay', F39 for 'decline',
    'unsigned' and 'esign_down'.
    Examples: no_reply:0200:1, delay:0200:2:5000, decline:0220:1:51, refuse::3"""
    parts = spec.split(":")
    if not parts[0] or len(parts) > 4:
        raise ValueError("fault spec %r is not kind[:mti[:count[:arg]]]" % (spec,))
    kind = parts[0]
    mti = parts[1] if len(parts) > 1 and parts[1] not in ("", "*") else None
    count = 1
    if len(parts) > 2 and parts[2] != "":
        if parts[2] == "*":
            count = None
        else:
            try:
                count = int(parts[2])
            except ValueError:
                raise ValueError("fault spec %r: count %r is not a number" % (spec, parts[2]))
            if count == 0:
                count = None
    args = {"kind": kind, "mti": mti, "count": count}
    if len(parts) > 3 and parts[3] != "":
        if kind == "delay":
            try:
                args["delay_ms"] = int(parts[3])
            except ValueError:
                raise ValueError("fault spec %r: delay %r is not milliseconds" % (spec, parts[3]))
        elif kind in CODE_KINDS:
            args["code"] = parts[3]
        else:
            raise ValueError("fault spec %r: kind %r takes no argument" % (spec, kind))
    Fault(**args)  # validate now, so a bad spec fails at the command line
    return args
