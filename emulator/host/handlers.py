"""The acquirer's decisions: one decoded request in, one reply out, with the
books updated in one ledger transaction. No sockets here (server.py moves
the bytes), so every rule can be exercised directly.

Response codes (field 39) are listed, with the reason for each, in
emulator/host/README.md; keep that table and this module in step.
"""

import datetime
import traceback

from firmware import esign_message, iso8583, termparams
from emulator.host import security, settlement, signatures
from emulator.host.qrpay import IN_PROGRESS, PAID, QUERY_PROC, WAITING, QrDesk
from firmware import qrpay
from emulator.host.ledger import mask_pan

# Reply codes.
APPROVED = "00"
INVALID_TRANSACTION = "12"
INVALID_AMOUNT = "13"
INVALID_CARD = "14"
ORIGINAL_NOT_FOUND = "25"
FORMAT_ERROR = "30"
INSUFFICIENT_FUNDS = "51"
EXPIRED_CARD = "54"
WRONG_PIN = "55"
EXCEEDS_AMOUNT_LIMIT = "61"
ORIGINAL_AMOUNT_WRONG = "64"
DUPLICATE = "94"
SYSTEM_FAULT = "96"
UNKNOWN_TERMINAL = "97"
MAC_ERROR = "A0"

SALE_PROC = "000000"
VOID_PROC = "200000"
REFUND_PROC = "200000"

# 60.3 network management codes of the sign-on request.
SIGNON_DOUBLE_KEYS = "003"
SIGNON_WITH_TRACK_KEY = "004"
# 小额双免: contactless sales at or below this need no PIN (UnionPay's default since 2018-06-01).
QUICK_PASS_LIMIT_FEN = 100000
# The terminal parameters (0800, 60.3 = 360: firmware/termparams.py) the host
# gives a terminal nobody configured: UnionPay's defaults.
DEFAULT_PARAMS = {"qps_no_pin_limit_fen": QUICK_PASS_LIMIT_FEN, "qps_no_signature_limit_fen": QUICK_PASS_LIMIT_FEN,
                  "esign_void": False, "esign_refund": False}
EVERY_TERMINAL = "*"
# 60.3 of the 0820 a terminal sends when it is returned (firmware/flows/decommission.py).
DECOMMISSION_CODE = "960"
# 60.3 of the batch upload messages that end an upload.
BATCH_UPLOAD_END_CODES = ("202", "207")

# Fields a reply echoes from its request when the request had them
# (DESIGN: 3, 4, 11, 41, 42 at least; real hosts add 2, 25, 49, 60).
ECHOED_FIELDS = (2, 3, 4, 11, 25, 41, 42, 49, 60)


class Reply:
    """What the server sends back: MTI, fields (F64 excluded) and the MAC key
    to sign them with (None: no MAC, as for sign-on replies)."""

    def __init__(self, mti, fields, mac_key=None):
        self.mti = mti
        self.fields = fields
        self.mac_key = mac_key

    @property
    def response_code(self):
        return self.fields.get(39)

    def __repr__(self):
        return "Reply(%s, F39=%s)" % (self.mti, self.response_code)


class Decline(Exception):
    """A request refused with a field 39 code before anything was booked."""

    def __init__(self, code, why):
        Exception.__init__(self, "%s: %s" % (code, why))
        self.code = code
        self.why = why


def reply_mti(mti):
    return "%04d" % (int(mti) + 10)


def is_request_mti(mti):
    """Requests have an even third digit (0200, 0220, 0400, 0800...)."""
    return len(mti) == 4 and mti.isdigit() and int(mti[2]) % 2 == 0


class Acquirer:
    """The host's business rules over a Ledger.

    master_key: the terminal master key (TMK) the working keys travel under;
    mac_algorithm: "x919" (ANSI X9.19, the default), "ecb" (UnionPay) or "x99";
    key_algorithm: "3des" or "sm4" (国密: SM4 master and working keys, 16-byte
    PIN blocks, SM4 MACs);
    mac_key_length: 16 for a double-length MAC key, 8 for single length
    (sent as 8 key bytes + 8 zeros); now: a callable returning the host's
    datetime (tests pin the date for expiry checks)."""

    def __init__(self, ledger, master_key, mac_algorithm="x919", mac_key_length=16,
                 acquirer_id="48020000", now=None, sign_signon=True, key_algorithm="3des"):
        if len(master_key) not in (8, 16, 24):
            raise ValueError("master key must be 8, 16 or 24 bytes, not %d" % len(master_key))
        if mac_algorithm not in security.MAC_ALGORITHMS:
            raise ValueError("unknown MAC algorithm %r (known: %s)"
                             % (mac_algorithm, ", ".join(security.MAC_ALGORITHMS)))
        if mac_key_length not in (8, 16):
            raise ValueError("mac_key_length is 8 or 16, not %r" % (mac_key_length,))
        if key_algorithm not in ("3des", "sm4"):
            raise ValueError("key_algorithm is 3des or sm4, not %r" % (key_algorithm,))
        if key_algorithm == "sm4" and (mac_key_length != 16 or len(master_key) != 16):
            raise ValueError("SM4 keys are 16 bytes: a 16-byte master key, no single-length MAC key")
        self.ledger = ledger
        self.master_key = bytes(master_key)
        self.mac_algorithm = mac_algorithm
        self.mac_key_length = mac_key_length
        self.acquirer_id = acquirer_id
        self.now = now or datetime.datetime.now
        self.sign_signon = sign_signon
        self.key_algorithm = key_algorithm
        self.qr = QrDesk(ledger)
        # Terminal parameters: terminal id (or EVERY_TERMINAL) -> {setting:
        # value} over DEFAULT_PARAMS; params_extra: (tag, bytes) sent as they
        # are after them, to play a broken or hostile acquirer.
        self.params = {}
        self.params_extra = []

    # -- entry point --------------------------------------------------------

    def handle(self, mti, fields, decline_code=None):
        """Decide one request. `decline_code` (the "decline" fault) answers
        with that code after the terminal and MAC checks, booking nothing.
        Returns a Reply, or None when the message gets no answer (a reply
        MTI sent to the host)."""
        if not is_request_mti(mti):
            return None
        now = self.now()
        reply = Reply(reply_mti(mti), self._echo(fields, now))
        if signatures.is_upload(mti, fields) and 62 in fields:
            # Whatever the answer, it names the packet it answers, under
            # the MAC: the packets of one signature differ in nothing else.
            reply.fields[62] = esign_message.answer_f62(fields[62])
        tid = fields.get(41)
        mid = fields.get(42)
        if not tid or not mid:
            return self._finish(reply, FORMAT_ERROR)
        try:
            with self.ledger.transaction():
                return self._decide(reply, mti, fields, tid, mid, now, decline_code)
        except Decline as decline:
            # Raised before anything was booked; the rollback is a formality.
            return self._finish(reply, decline.code)
        except Exception:
            # A host bug must not leave half a booking behind (rolled back
            # above) nor leave the terminal without an answer.
            traceback.print_exc()
            reply.fields.pop(37, None)
            reply.fields.pop(38, None)
            return self._finish(reply, SYSTEM_FAULT)

    def _decide(self, reply, mti, fields, tid, mid, now, decline_code):
        terminal = self.ledger.terminal(tid)
        if terminal is not None and terminal["status"] == "unknown":
            return self._finish(reply, UNKNOWN_TERMINAL)
        if mti == "0800" and _field60(fields).get("network_code") != termparams.NETWORK_CODE:
            return self._sign_on(reply, fields, tid, mid, now, decline_code)
        if mti == "0820" and _field60(fields).get("network_code") not in (DECOMMISSION_CODE,
                                                                          signatures.UPLOAD_CODE):
            return self._finish(reply, decline_code or APPROVED)   # an echo test: no MAC asked
        if terminal is None or terminal["mac_key"] is None:
            # Never signed on: no keys to check a MAC or a PIN with.
            return self._finish(reply, MAC_ERROR)
        reply.mac_key = terminal["mac_key"]
        if not security.mac_matches(self.mac_algorithm, terminal["mac_key"], mti, fields,
                                    self.key_algorithm):
            return self._finish(reply, MAC_ERROR)
        if not self._decrypt_tracks(fields, terminal):
            return self._finish(reply, FORMAT_ERROR)
        if decline_code is not None:
            return self._finish(reply, decline_code)
        handler = self._handler_for(mti, fields)
        if handler is None:
            return self._finish(reply, INVALID_TRANSACTION)
        return handler(reply, fields, terminal, now)

    def _decrypt_tracks(self, fields, terminal):
        """F35/F36 in clear, in place, when F53's third digit says they
        came encrypted under the track data key; False if they cannot be."""
        if (fields.get(53) or "")[2:3] != "1":
            return True
        if terminal["track_key"] is None:
            return False
        for number in (35, 36):
            if number in fields:
                try:
                    fields[number] = security.decrypt_track(terminal["track_key"], fields[number],
                                                            self.key_algorithm)
                except ValueError:
                    return False
        return True

    def _handler_for(self, mti, fields):
        proc = fields.get(3)
        if mti == "0200" and proc == SALE_PROC and 59 in fields:
            return self._qr_sale
        if mti == "0200" and proc == QUERY_PROC:
            return self._qr_query
        if mti == "0200" and proc == SALE_PROC:
            return self._sale
        if mti == "0200" and proc == VOID_PROC:
            return self._void
        if mti == "0220" and proc == REFUND_PROC:
            return self._refund
        if mti == "0400":
            return self._reversal
        if signatures.is_upload(mti, fields):
            return self._signature_upload
        if mti == "0820":
            return self._decommission
        if mti == "0800":
            return self._parameters
        if mti == "0500":
            return self._settle
        if mti == "0320":
            return self._batch_upload
        return None

    # -- replies ------------------------------------------------------------

    def _echo(self, fields, now):
        out = {}
        for n in ECHOED_FIELDS:
            if n in fields:
                out[n] = fields[n]
        out[12] = now.strftime("%H%M%S")
        out[13] = now.strftime("%m%d")
        out[32] = self.acquirer_id
        return out

    def _finish(self, reply, code):
        reply.fields[39] = code
        return reply

    def _booked_reply(self, reply, txn):
        """The reply for a booked transaction, built from its row: the same
        answer whether it is sent now or replayed for a repeated request."""
        reply.fields[39] = txn["response_code"]
        reply.fields[12] = txn["host_time"]
        reply.fields[13] = txn["host_date"]
        # F15, the settlement date: the acquirer's business day the money is
        # settled on (here the booking day, no cut-over); the e-signature's
        # feature code is made from it.
        reply.fields[15] = txn["host_date"]
        if txn["rrn"]:
            reply.fields[37] = txn["rrn"]
        order = self.qr.order_of_txn(txn["id"])
        if order is not None:
            reply.fields[59] = self.qr.reply_field59(order)
        if txn["response_code"] == APPROVED:
            reply.fields[38] = txn["auth_code"]
            # F44: issuer and acquirer institution (11 characters each).
            reply.fields[44] = "%-11s%-11s" % ("01020000", self.acquirer_id)
        return reply

    # -- network management -------------------------------------------------

    def _sign_on(self, reply, fields, tid, mid, now, decline_code):
        if decline_code is not None:
            return self._finish(reply, decline_code)
        network_code = _field60(fields).get("network_code") or SIGNON_DOUBLE_KEYS
        if network_code not in (SIGNON_DOUBLE_KEYS, SIGNON_WITH_TRACK_KEY):
            return self._finish(reply, INVALID_TRANSACTION)
        pin_key = security.new_key(16)
        if self.mac_key_length == 16:
            mac_key = security.new_key(16)
        else:
            mac_key = security.new_key(8) + bytes(8)
        track_key = security.new_key(16) if network_code == SIGNON_WITH_TRACK_KEY else None
        terminal = self.ledger.sign_on(tid, mid, pin_key, mac_key, now.isoformat(), track_key)
        reply.fields[60] = iso8583.field60("00", "%06d" % terminal["batch"], network_code)
        reply.fields[62] = security.working_keys_field(self.master_key, pin_key, mac_key, track_key,
                                                       self.key_algorithm)
        if self.sign_signon:
            # The 0810 under the new MAC key: the terminal verifies it with
            # that key before it installs any of them.
            reply.mac_key = mac_key
        expires = self.ledger.service_expiry(tid)
        if expires:
            # The service term (续费): the terminal warns before it, refuses sales after it.
            reply.fields[59] = qrpay.field59([("A9", expires)])
        return self._finish(reply, APPROVED)

    def params_for(self, tid):
        """The parameters terminal `tid` is given: the defaults, then what
        was set for every terminal, then what was set for this one."""
        values = dict(DEFAULT_PARAMS)
        values.update(self.params.get(EVERY_TERMINAL, {}))
        values.update(self.params.get(tid, {}))
        return values

    def set_params(self, values, tid=EVERY_TERMINAL):
        """Hold `values` ({setting: value}) for terminal `tid`; ValueError
        (nothing held) if one cannot be sent. Ranges are not checked: the
        host may play an acquirer that sends a value a terminal must refuse."""
        termparams.build_field62(values)
        held = dict(self.params.get(tid, {}))
        held.update(values)
        self.params[tid] = held
        return self.params_for(tid)

    def _parameters(self, reply, fields, terminal, now):
        """参数下载: the terminal's parameters in F62, MACed like any reply."""
        reply.fields[62] = termparams.build_field62(self.params_for(terminal["tid"]), self.params_extra)
        return self._finish(reply, APPROVED)

    def _decommission(self, reply, fields, terminal, now):
        """A terminal going back to its provider (退机), its 0820 MACed like
        any request: from now on it is unknown here (97) until registered again."""
        self.ledger._sql("UPDATE terminals SET status = 'unknown' WHERE tid = ?", (terminal["tid"],))
        return self._finish(reply, APPROVED)

    def _signature_upload(self, reply, fields, terminal, now):
        """One packet of an electronic signature (emulator/host/signatures.py)."""
        try:
            return self._finish(reply, signatures.store_packet(self.ledger, fields, terminal))
        except signatures.UploadRefused as refused:
            raise Decline(refused.code, refused.why)

    # -- financial ----------------------------------------------------------

    def _request_refs(self, fields, terminal):
        """(batch, trace, amount) of a financial request."""
        batch = _field60(fields).get("batch")
        batch = int(batch) if batch else terminal["batch"]
        trace = _int_field(fields, 11)
        amount = _int_field(fields, 4)
        if trace is None or amount is None:
            raise Decline(FORMAT_ERROR, "no trace (F11) or amount (F4)")
        return batch, trace, amount

    def _repeat(self, reply, fields, terminal, kind, batch, trace):
        """A request whose terminal + batch + trace was already booked: the
        first answer again (same 39, 37, 38, 12, 13) if it is the same
        request (a resend after a lost reply), 94 with no approval data if
        anything that identifies it differs (the trace reused for another
        request: another card, amount, processing code, F60 or F61). None
        if the trace is new."""
        first = self.ledger.find_by_trace(terminal["tid"], batch, trace)
        if first is None:
            return None
        if (first["kind"] == kind and first["request_key"] == request_key(kind, fields)
                and first["status"] != "reversed"):
            return self._booked_reply(reply, first)
        return self._finish(reply, DUPLICATE)

    def _book(self, reply, fields, terminal, now, kind, batch, trace, amount, pan, code,
              status, **extra):
        approved = code == APPROVED
        seq = self.ledger.next_counter("rrn")
        txn_id = self.ledger.add_transaction(
            tid=terminal["tid"], mid=fields[42], batch=batch, trace=trace,
            mti=_mti_of(reply), proc_code=fields.get(3, ""), kind=kind, amount=amount,
            pan=pan, rrn="%s%06d" % (now.strftime("%H%M%S"), seq % 1000000),
            auth_code="%06d" % (seq * 7919 % 1000000) if approved else None,
            host_date=now.strftime("%m%d"), host_time=now.strftime("%H%M%S"),
            status=status, response_code=code, request_key=request_key(kind, fields), **extra)
        return self._booked_reply(reply, self.ledger.transaction_by_id(txn_id))

    def _sale(self, reply, fields, terminal, now):
        batch, trace, amount = self._request_refs(fields, terminal)
        repeat = self._repeat(reply, fields, terminal, "sale", batch, trace)
        if repeat is not None:
            return repeat
        pan, track_expiry = _card_of(fields)
        if pan is None:
            raise Decline(FORMAT_ERROR, "no card number (F2 or F35)")
        account = self.ledger.account(pan)
        code = self._sale_decision(fields, terminal, now, account, pan, track_expiry, amount)
        if code != APPROVED:
            return self._book(reply, fields, terminal, now, "sale", batch, trace, amount,
                              pan, code, "declined")
        self.ledger.adjust_balance(pan, -amount)
        return self._book(reply, fields, terminal, now, "sale", batch, trace, amount,
                          pan, APPROVED, "approved")

    def _sale_decision(self, fields, terminal, now, account, pan, track_expiry, amount):
        if account is None:
            return INVALID_CARD
        if amount <= 0:
            return INVALID_AMOUNT
        expiry = fields.get(14) or track_expiry or account["expiry"]
        if _expired(expiry, now):
            return EXPIRED_CARD
        quick_pass = ((fields.get(22) or "").startswith("07")
                      and amount <= self.params_for(terminal["tid"])["qps_no_pin_limit_fen"])
        if account["pin"] and not (quick_pass and 52 not in fields):
            # 小额双免: a contactless sale at or below the terminal's no-PIN limit goes without a PIN.
            if not security.pin_matches(terminal["pin_key"], fields.get(52), account["pin"], pan,
                                        self.key_algorithm):
                return WRONG_PIN
        if account["balance"] < amount:
            return INSUFFICIENT_FUNDS
        return APPROVED

    # -- QR payments (emulator/host/qrpay.py) -----------------------------------

    def _qr_fields(self, fields):
        try:
            return qrpay.parse_field59(fields.get(59) or "")
        except qrpay.QrPayError as e:
            raise Decline(FORMAT_ERROR, "F59: %s" % e)

    def _qr_sale(self, reply, fields, terminal, now):
        """B2C (F59 A3, the customer's code) or C2B (F59 A8, asking for a code to show)."""
        batch, trace, amount = self._request_refs(fields, terminal)
        repeat = self._repeat(reply, fields, terminal, "sale", batch, trace)
        if repeat is not None:
            return repeat
        f59 = self._qr_fields(fields)
        if amount <= 0:
            raise Decline(INVALID_AMOUNT, "QR amount %d" % amount)
        if "A3" in f59:
            code = f59["A3"]
            rc, status, debit = self.qr.decide_b2c(code, amount)
            channel = None
            try:
                channel = qrpay.channel_of(code)
            except qrpay.QrPayError:
                pass
            if debit:
                self.ledger.adjust_balance(code, -amount)
            txn_status = {"00": "approved", IN_PROGRESS: "waiting"}.get(rc, "declined")
            pan = code if self.ledger.account(code) is not None else None
        elif f59.get("A8") == "1":
            rc, status, channel, txn_status, pan = IN_PROGRESS, WAITING, None, "waiting", None
        else:
            raise Decline(FORMAT_ERROR, "QR sale without a payment code (A3) or a code request (A8)")
        seq = self.ledger.next_counter("rrn")
        txn_id = self.ledger.add_transaction(
            tid=terminal["tid"], mid=fields[42], batch=batch, trace=trace, mti="0200",
            proc_code=fields.get(3, ""), kind="sale", amount=amount, pan=pan,
            rrn="%s%06d" % (now.strftime("%H%M%S"), seq % 1000000),
            auth_code="%06d" % (seq * 7919 % 1000000) if rc == APPROVED else None,
            host_date=now.strftime("%m%d"), host_time=now.strftime("%H%M%S"),
            status=txn_status, response_code=rc, request_key=request_key("sale", fields))
        if status != "FAILED" or pan is not None:
            self.qr.new_order(txn_id, channel, pan, amount, terminal["tid"], status, now)
        return self._booked_reply(reply, self.ledger.transaction_by_id(txn_id))

    def _qr_query(self, reply, fields, terminal, now):
        """Where an order stands (A5), with the approval data once PAID."""
        order_no = self._qr_fields(fields).get("A4")
        order = self.qr.order(order_no) if order_no else None
        if order is None or order["tid"] != terminal["tid"]:
            return self._finish(reply, ORIGINAL_NOT_FOUND)
        txn = self.ledger.transaction_by_id(order["txn_id"])
        reply.fields[59] = self.qr.reply_field59(order)
        reply.fields[37] = txn["rrn"]
        if order["status"] == PAID:
            reply.fields[38] = txn["auth_code"]
        return self._finish(reply, APPROVED)

    def _void(self, reply, fields, terminal, now):
        batch, trace, amount = self._request_refs(fields, terminal)
        repeat = self._repeat(reply, fields, terminal, "void", batch, trace)
        if repeat is not None:
            return repeat
        refs = fields.get(61) or ""
        if len(refs) < 12 or not refs[:12].isdigit():
            raise Decline(ORIGINAL_NOT_FOUND, "void without original batch + trace in F61")
        orig_batch, orig_trace = int(refs[:6]), int(refs[6:12])
        orig = self.ledger.find_by_trace(terminal["tid"], orig_batch, orig_trace, ("sale",))
        pan, _ = _card_of(fields)
        code = self._void_decision(orig, pan, amount)
        extra = {"orig_batch": orig_batch, "orig_trace": orig_trace,
                 "orig_rrn": fields.get(37)}
        if code != APPROVED:
            return self._book(reply, fields, terminal, now, "void", batch, trace, amount,
                              pan or (orig and orig["pan"]), code, "declined",
                              orig_id=orig and orig["id"], **extra)
        self.ledger.adjust_balance(orig["pan"], amount)
        self.ledger.set_status(orig["id"], "voided")
        return self._book(reply, fields, terminal, now, "void", batch, trace, amount,
                          orig["pan"], APPROVED, "approved", orig_id=orig["id"], **extra)

    def _void_decision(self, orig, pan, amount):
        if orig is None or orig["status"] in ("declined", "reversed"):
            return ORIGINAL_NOT_FOUND
        if pan is not None and pan != orig["pan"]:
            return ORIGINAL_NOT_FOUND
        if orig["status"] == "voided":
            return DUPLICATE
        if orig["settled"] or self.ledger.refunded(orig["id"]) > 0:
            return INVALID_TRANSACTION
        if amount != orig["amount"]:
            return ORIGINAL_AMOUNT_WRONG
        return APPROVED

    def _refund(self, reply, fields, terminal, now):
        batch, trace, amount = self._request_refs(fields, terminal)
        repeat = self._repeat(reply, fields, terminal, "refund", batch, trace)
        if repeat is not None:
            return repeat
        pan, _ = _card_of(fields)
        orig_rrn = fields.get(37)
        refs = fields.get(61) or ""
        orig_date = refs[12:16] if len(refs) >= 16 and refs[12:16] != "0000" else None
        orig = self._refund_original(fields[42], orig_rrn, orig_date)
        if pan is None and 59 in fields:
            # A QR payment is refunded by its order number: the wallet is the order's.
            order = self.qr.order(self._qr_fields(fields).get("A4") or "")
            orig = self.ledger.transaction_by_id(order["txn_id"]) if order else None
            if orig is None or orig["mid"] != fields[42]:
                raise Decline(ORIGINAL_NOT_FOUND, "no QR order of this merchant by that number")
            pan = orig["pan"]
            orig_rrn = orig["rrn"]
        code = self._refund_decision(orig, pan, amount)
        extra = {"orig_rrn": orig_rrn, "orig_date": orig_date}
        if code != APPROVED:
            return self._book(reply, fields, terminal, now, "refund", batch, trace, amount,
                              pan, code, "declined", orig_id=orig and orig["id"], **extra)
        self.ledger.adjust_balance(pan, amount)
        self.ledger.add_refunded(orig["id"], amount)
        return self._book(reply, fields, terminal, now, "refund", batch, trace, amount,
                          pan, APPROVED, "approved", orig_id=orig["id"], **extra)

    def _refund_original(self, mid, rrn, date):
        """The sale a refund refers to: same merchant, that RRN, that date
        (MMDD) when the terminal gave one; any batch, any of the merchant's
        terminals."""
        if not rrn:
            return None
        for sale in reversed(self.ledger.find_by_rrn(rrn)):
            if sale["mid"] == mid and (date is None or sale["host_date"] == date):
                return sale
        return None

    def _refund_decision(self, orig, pan, amount):
        if pan is None or self.ledger.account(pan) is None:
            return INVALID_CARD
        if orig is None or orig["status"] in ("declined", "reversed") or pan != orig["pan"]:
            return ORIGINAL_NOT_FOUND
        if orig["status"] == "voided":
            return INVALID_TRANSACTION
        if amount <= 0:
            return INVALID_AMOUNT
        if self.ledger.refunded(orig["id"]) + amount > orig["amount"]:
            return EXCEEDS_AMOUNT_LIMIT
        return APPROVED

    def _reversal(self, reply, fields, terminal, now):
        """Undo the original if it was approved; acknowledge (00) in every
        case, as hosts do: the terminal only needs to know the reversal
        arrived. A second reversal of the same original changes nothing."""
        batch = _field60(fields).get("batch")
        batch = int(batch) if batch else terminal["batch"]
        trace = _int_field(fields, 11)
        amount = _int_field(fields, 4)
        orig = self.ledger.find_by_trace(terminal["tid"], batch, trace) if trace is not None else None
        if orig is None:
            effect = "original unknown"
        elif orig["status"] == "waiting" and self.qr.reversed(orig):
            self.ledger.set_status(orig["id"], "reversed")
            effect = "QR order closed unpaid"
        elif orig["status"] != "approved":
            effect = "nothing to undo (%s)" % orig["status"]
        elif amount is not None and amount != orig["amount"]:
            effect = "amount differs, not undone"
        else:
            self._undo(orig)
            self.qr.reversed(orig)
            effect = "undone"
        self.ledger.add_reversal(tid=terminal["tid"], mid=fields[42], batch=batch,
                                 trace=trace if trace is not None else -1, amount=amount,
                                 reason=fields.get(39), orig_id=orig and orig["id"],
                                 effect=effect)
        return self._finish(reply, APPROVED)

    def _undo(self, txn):
        kind = txn["kind"]
        if kind == "sale":
            self.ledger.adjust_balance(txn["pan"], txn["amount"])
        elif kind == "void":
            self.ledger.adjust_balance(txn["pan"], -txn["amount"])
            self.ledger.set_status(txn["orig_id"], "approved")
        elif kind == "refund":
            self.ledger.adjust_balance(txn["pan"], -txn["amount"])
            self.ledger.add_refunded(txn["orig_id"], -txn["amount"])
        self.ledger.set_status(txn["id"], "reversed")

    # -- settlement ---------------------------------------------------------

    def _settle(self, reply, fields, terminal, now):
        batch = _field60(fields).get("batch")
        batch = int(batch) if batch else terminal["batch"]
        digits = fields.get(48) or ""
        try:
            sections = settlement.parse_totals(digits)
        except ValueError as e:
            raise Decline(FORMAT_ERROR, str(e))
        first = self.ledger.settlement_of(terminal["tid"], batch)
        if first is not None:
            # A terminal that lost our 0510 asks again: the same verdict,
            # and the batch is not settled a second time.
            reply.fields[48] = settlement.with_settle_codes(first["terminal_totals"], list(first["result"]))
            return self._finish(reply, APPROVED)
        host = self.ledger.batch_totals(terminal["tid"], batch)
        codes = [settlement.BALANCED if tuple(sections[0]) == host else settlement.UNBALANCED]
        if len(sections) > 1:
            # No foreign cards pass through this host: their totals are zero.
            foreign_ok = tuple(sections[1]) == (0, 0, 0, 0)
            codes.append(settlement.BALANCED if foreign_ok else settlement.UNBALANCED)
        self.ledger.add_settlement(tid=terminal["tid"], mid=fields[42], batch=batch,
                                   terminal_totals=digits,
                                   host_totals=settlement.format_totals(*host),
                                   result="".join(codes))
        self.ledger.advance_batch(terminal["tid"], batch)
        reply.fields[48] = settlement.with_settle_codes(digits, codes)
        return self._finish(reply, APPROVED)

    def _batch_upload(self, reply, fields, terminal, now):
        f60 = _field60(fields)
        batch = f60.get("batch")
        batch = int(batch) if batch else terminal["batch"]
        summary = "fields %s" % ",".join(str(n) for n in sorted(fields))
        if 2 in fields:
            summary += " card %s" % mask_pan(fields[2])
        if 4 in fields:
            summary += " amount %s" % int(fields[4])
        if 48 in fields:
            summary += " F48 %s" % fields[48]
        self.ledger.add_batch_upload(tid=terminal["tid"], batch=batch,
                                     network_code=f60.get("network_code") or "",
                                     trace=_int_field(fields, 11), summary=summary)
        return self._finish(reply, APPROVED)


# -- field helpers ------------------------------------------------------------

def _field60(fields):
    text = fields.get(60)
    if not text:
        return {}
    try:
        return iso8583.parse_field60(text)
    except Exception:
        return {}


def _int_field(fields, n):
    value = fields.get(n)
    if value is None or not str(value).isdigit():
        return None
    return int(value)


def _card_of(fields):
    """(PAN, expiry YYMM or None) from F2, else from the track 2 in F35."""
    track = fields.get(35)
    track_pan = track_expiry = None
    if track and "=" in track:
        track_pan, rest = track.split("=", 1)
        if len(rest) >= 4 and rest[:4].isdigit():
            track_expiry = rest[:4]
    pan = fields.get(2) or track_pan
    return (pan or None), track_expiry


def request_key(kind, fields):
    """What identifies a financial request, as one string: its kind, card,
    amount, processing code, F60 and F61. Two requests under one trace are
    the same request (a repeat) only if their keys are equal."""
    pan, _ = _card_of(fields)
    key = "|".join((kind, pan or "", str(_int_field(fields, 4)), fields.get(3) or "",
                    fields.get(60) or "", fields.get(61) or ""))
    if 59 in fields:     # a QR request: its code or order number identifies it too
        key += "|" + fields[59]
    return key


def _expired(expiry, now):
    """YYMM before this month is expired; a card is good through the end of
    its expiry month."""
    if not expiry or len(expiry) != 4 or not expiry.isdigit():
        return False
    return int(expiry) < int(now.strftime("%y%m"))


def _mti_of(reply):
    return "%04d" % (int(reply.mti) - 10)
