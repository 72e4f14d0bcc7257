"""The acquirer host simulator as a TCP server on loopback.

    host = HostSimulator("host.sqlite")
    port = await host.start()                # on the caller's asyncio loop
    ...
    await host.stop()

or, for synchronous tests, on a loop in a background thread:

    port = host.start_in_thread()
    ...
    host.stop_thread()

Framing (DESIGN.md): 2-byte big-endian length, TPDU (5), header (6), ISO
8583 body. A connection may carry several requests, one after the other;
the terminal opens one per transaction.
"""

import asyncio
import os
import socket
import struct
import sys
import threading

from firmware import iso8583
from hal.sim.deck import payment_codes, test_deck
from emulator.host import security, signatures
from emulator.host.faults import Faults
from emulator.host.handlers import Acquirer, is_request_mti
from emulator.host.ledger import Ledger, mask_pan
from emulator.host.record import FrameRecorder

DEFAULT_MASTER_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")

# A connection that sends nothing for this long is closed (a terminal opens
# one connection per transaction; an idle one is a leak).
IDLE_TIMEOUT_S = 120


class HostSimulator:
    """db_path: the SQLite ledger (None: in memory); master_key: the
    terminal master key shared with the handset; record_path: write every
    frame to this file (see record.py); mac_algorithm: "x919" (default) | "ecb" | "x99";
    unknown_tids: terminal ids refused with F39 97; mac_key_length: 16
    (double-length MAC key) or 8; now: callable returning the host's
    datetime; log: callable taking one line per request answered (card
    numbers masked), e.g. print; tls_cert, tls_key: PEM files to serve TLS
    with (the terminal's host_tls names the certificate or its CA);
    key_algorithm: "3des" or "sm4" (the terminal's key_algorithm)."""

    def __init__(self, db_path, master_key=DEFAULT_MASTER_KEY, record_path=None,
                 mac_algorithm="x919", unknown_tids=(), mac_key_length=16, now=None,
                 acquirer_id="48020000", log=None, tls_cert=None, tls_key=None,
                 key_algorithm="3des"):
        self.ledger = Ledger(":memory:" if db_path is None else db_path)
        self.ledger.seed_accounts(test_deck())
        for tid in unknown_tids:
            self.ledger.mark_unknown(tid)
        self.acquirer = Acquirer(self.ledger, master_key, mac_algorithm=mac_algorithm,
                                 key_algorithm=key_algorithm,
                                 mac_key_length=mac_key_length, acquirer_id=acquirer_id,
                                 now=now)
        self.acquirer.qr.seed(payment_codes())
        self.mac_algorithm = mac_algorithm
        self.faults = Faults()
        self.record_path = record_path
        self._recorder = FrameRecorder(record_path) if record_path else None
        self._log = log
        self._tls = None
        if tls_cert is not None:
            import ssl
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(tls_cert, tls_key)
        self._server = None
        self._receipts = None
        self._receipts_at = None     # (address, port) once served: served again after a stop and start
        self._connections = set()
        self._loop = None
        self._thread = None
        self.port = None

    # -- lifecycle ----------------------------------------------------------

    async def start(self, host="127.0.0.1", port=0):
        """Listen; returns the port (useful with port=0)."""
        if self._server is not None:
            raise RuntimeError("HostSimulator.start: already listening on port %s" % self.port)
        self._loop = asyncio.get_running_loop()
        if self.record_path and self._recorder is None:
            # stop() closed it; a host started again goes on recording (appending)
            self._recorder = FrameRecorder(self.record_path)
        self._server = await asyncio.start_server(self._serve, host, port, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]
        if self._receipts_at is not None and self._receipts is None:
            # a host taken down and up again (the test protocol's host op) serves its receipts again
            await self.start_receipts(*self._receipts_at)
        return self.port

    async def start_receipts(self, host="127.0.0.1", port=0):
        """Serve e-receipts over HTTP (emulator/host/web.py) on the running
        loop, until stop(); returns the port."""
        from emulator.host import web
        if self._receipts is not None:
            raise RuntimeError("HostSimulator.start_receipts: already serving receipts")
        self._receipts = await web.serve_receipts(self, port, host)
        self._receipts_at = (host, self._receipts.sockets[0].getsockname()[1])
        return self._receipts_at[1]

    def start_receipts_in_thread(self, port=0):
        """start_receipts() on the loop of start_in_thread(); returns the port."""
        if self._thread is None:
            raise RuntimeError("HostSimulator.start_receipts_in_thread: start_in_thread() first")
        return asyncio.run_coroutine_threadsafe(self.start_receipts("127.0.0.1", port), self._loop).result(10)

    async def stop(self):
        """Stop listening and close every open connection (including those a
        no_reply fault holds open)."""
        if self._receipts is not None:
            self._receipts.close()
            await self._receipts.wait_closed()
            self._receipts.receipt_desk.close()
            self._receipts = None
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    def start_in_thread(self, host="127.0.0.1", port=0):
        """Run the server on its own event loop in a daemon thread; returns
        the port once it listens."""
        if self._thread is not None:
            raise RuntimeError("HostSimulator.start_in_thread: already running")
        ready = threading.Event()
        outcome = {}
        loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(loop)
            try:
                outcome["port"] = loop.run_until_complete(self.start(host, port))
            except BaseException as e:  # reported to the caller below
                outcome["error"] = e
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="pos-host", daemon=True)
        self._thread.start()
        ready.wait()
        if "error" in outcome:
            self._thread = None
            raise outcome["error"]
        return outcome["port"]

    def stop_thread(self):
        if self._thread is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def close(self):
        """Stop (if running in a thread) and close the ledger."""
        self.stop_thread()
        self.ledger.close()

    def __enter__(self):
        self.start_in_thread()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- queries for tests --------------------------------------------------

    def balance(self, pan):
        return self.ledger.balance(pan)

    def transactions(self, tid=None):
        return self.ledger.transactions(tid)

    def refunded_total(self, rrn):
        return self.ledger.refunded_total(rrn)

    def count_applied(self, kind):
        return self.ledger.count_applied(kind)

    def reversals(self, tid=None):
        return self.ledger.reversals(tid)

    def settlements(self, tid=None):
        return self.ledger.settlements(tid)

    def batch_uploads(self, tid=None):
        return self.ledger.batch_uploads(tid)

    def verify_receipt(self, code_or_text):
        """A slip's verification code (12 digits) or its QR text -> dict:
        valid, and which transaction and copy (emulator/host/receipts.py)."""
        from emulator.host import receipts
        return receipts.verify(self.ledger, self.acquirer.master_key, code_or_text)

    def set_service_expiry(self, tid, expires):
        """The end of a terminal's service term (YYYYMMDD), sent at its next sign-on."""
        self.ledger.set_service_expiry(tid, expires)

    def signatures(self, tid=None):
        """The electronic signatures uploaded (emulator/host/signatures.py)."""
        return self.ledger.signatures(tid)

    def ereceipt_png(self, rrn, tid=None):
        """The e-receipt of the transaction with this RRN as PNG bytes, or
        None when it has no completed signature upload."""
        from emulator.host import ereceipt
        record = signatures.receipt_of(self.ledger, tid=tid, rrn=rrn)
        return ereceipt.png_bytes(record) if record is not None else None

    def terminal(self, tid):
        """The terminal's row (tid, mid, status, batch, keys...) or None."""
        return self.ledger.terminal(tid)

    # -- connections --------------------------------------------------------

    async def _serve(self, reader, writer):
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            if self.faults.take_for_connection() is not None:
                _reset(writer)
                return
            await self._serve_requests(reader, writer)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve_requests(self, reader, writer):
        while True:
            try:
                head = await asyncio.wait_for(reader.readexactly(2), IDLE_TIMEOUT_S)
                payload = await asyncio.wait_for(
                    reader.readexactly(struct.unpack(">H", head)[0]), IDLE_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.TimeoutError):
                return
            self._record("in", head + payload)
            if not await self._answer(payload, reader, writer):
                return

    async def _answer(self, payload, reader, writer):
        """Decide and answer one request; False when the connection must be
        closed (undecodable request, drop faults)."""
        try:
            tpdu, header, body = iso8583.unframe(payload)
            mti, fields = iso8583.unpack(body, security.pin_block_length(self.acquirer.key_algorithm))
        except Exception as e:
            # Nothing sensible to echo: hang up, as a host's front end does.
            _warn("undecodable request (%s: %s); closing the connection" % (type(e).__name__, e))
            return False
        fault = (self.faults.take_for_request(mti, signatures.is_upload(mti, fields))
                 if is_request_mti(mti) else None)
        kind = fault.acts_as if fault else None
        if kind == "drop_before":
            return False
        reply = self.acquirer.handle(mti, fields,
                                     decline_code=fault.code if kind == "decline" else None)
        if self._log is not None:
            self._log(_summary(mti, fields, reply, fault.kind if fault else None))
        if reply is None:
            return True
        if kind == "drop":
            return False
        if kind == "no_reply":
            await _wait_until_closed(reader)
            return False
        if kind == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
        if kind == "garbage":
            # Random bytes in a well-formed length prefix, with an MTI that
            # is not BCD so that it can never decode by chance.
            junk = bytearray(os.urandom(32))
            junk[iso8583.TPDU_LENGTH + iso8583.HEADER_LENGTH] = 0xFF
            frame = struct.pack(">H", len(junk)) + junk
        else:
            if kind == "unsigned":
                # The request was booked; what goes back is an unsigned
                # final-looking code with nothing that could prove it.
                reply.fields[39] = fault.code
                reply.fields.pop(37, None)
                reply.fields.pop(38, None)
                reply.mac_key = None
            frame = iso8583.frame(self._reply_body(reply, corrupt_mac=kind == "bad_mac"),
                                  iso8583.reply_tpdu(tpdu), header)
        self._record("out", frame)
        writer.write(frame)
        await writer.drain()
        return True

    def _reply_body(self, reply, corrupt_mac=False):
        fields = dict(reply.fields)
        if reply.mac_key is not None:
            mac = security.compute_mac(self.mac_algorithm, reply.mac_key, reply.mti, fields,
                                       self.acquirer.key_algorithm)
            if corrupt_mac:
                mac = bytes(b ^ 0x01 for b in mac)
            fields[64] = mac
        return iso8583.pack(reply.mti, fields)

    def _record(self, direction, frame):
        if self._recorder is not None:
            self._recorder.write(direction, frame)


def _summary(mti, fields, reply, fault_kind):
    """One line about a request and its answer, card number masked."""
    parts = [mti, "tid=%s" % fields.get(41), "trace=%s" % fields.get(11)]
    if 3 in fields:
        parts.append("proc=%s" % fields[3])
    pan = fields.get(2) or (fields.get(35) or "").split("=")[0]
    if pan:
        parts.append("card=%s" % mask_pan(pan))
    if 4 in fields:
        parts.append("amount=%d" % int(fields[4]))
    parts.append("-> %s" % (reply.response_code if reply is not None else "no reply"))
    if fault_kind:
        parts.append("[fault %s]" % fault_kind)
    return " ".join(parts)


async def _wait_until_closed(reader):
    """Hold a connection open, answering nothing, until the peer hangs up."""
    while await reader.read(4096):
        pass


def _reset(writer):
    """Close with a TCP reset, so the terminal sees the connection refused
    rather than an orderly end of stream."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _warn(text):
    sys.stderr.write("pos-host: %s\n" % text)
    sys.stderr.flush()
