"""The e-receipt over HTTP: what the QR code on the terminal's screen
points at (`<ereceipt_url>?t=<terminal>&r=<RRN>&c=<receipt code>`).

    pos-host --http 8080
    GET /receipt?t=10000001&r=093000000012&c=123456789012   -> 200 image/png

| answer | when |
|---|---|
| 200 image/png | a completed signature upload for terminal t's transaction with RRN r, not reversed since, and c is the code of one of that transaction's slips (pos-host verify's check, emulator/host/receipts.py); a void or refund booked against it since is on the page (emulator/host/ereceipt.py) |
| 400 | the query has not t (8 letters or digits), r (12 digits), c (12 digits) once each (other names are let through, at most 8 in all); a request line that is not HTTP |
| 404 | no such path, no such receipt (a reversed transaction has none), or a code that does not verify (the same answer: a guess learns nothing) |
| 405 | a method other than GET |
| 431 | request line and headers over MAX_HEAD bytes |
| 503 | MAX_CONNECTIONS requests already in hand |

It is written for a hostile network, small: one request a connection
(Connection: close), the request head read within READ_TIMEOUT_S and at
most MAX_HEAD bytes (the body, if any, is never read), every answer
written within WRITE_TIMEOUT_S, one receipt drawn at a time, off the
event loop (the ISO 8583 side keeps answering while a PNG is drawn).
"""

import asyncio
import threading
import urllib.parse

from emulator.host import ereceipt, receipts, signatures

MAX_HEAD = 4096
READ_TIMEOUT_S = 5
WRITE_TIMEOUT_S = 10
MAX_CONNECTIONS = 32
MAX_QUERY_FIELDS = 8
PATH = "/receipt"

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


class BadRequest(ValueError):
    pass


def parse_query(query):
    """'t=..&r=..&c=..' -> (terminal, rrn, code); BadRequest otherwise.
    Other names are let through (an acquirer's ereceipt_url may carry its
    own: firmware/ereceipt.link appends to it), at most MAX_QUERY_FIELDS in all."""
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True,
                                       max_num_fields=MAX_QUERY_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest("query: %s" % e)
    values = {}
    for name, value in pairs:
        if name in values:
            raise BadRequest("t, r and c once each")
        if name in ("t", "r", "c"):
            values[name] = value
    if len(values) != 3:
        raise BadRequest("the query needs t, r and c, once each")
    terminal, rrn, code = values["t"], values["r"], values["c"]
    if len(terminal) != 8 or not (terminal.isascii() and terminal.isalnum()):
        raise BadRequest("t is the 8-character terminal id")
    for name, value in (("r", rrn), ("c", code)):
        if len(value) != 12 or not (value.isascii() and value.isdigit()):
            raise BadRequest("%s is 12 digits" % name)
    return terminal, rrn, code


class ReceiptDesk:
    """Finds, checks and draws receipts for the web side; one drawing at a
    time (the font reads its file with seek + read)."""

    def __init__(self, simulator):
        self.simulator = simulator
        self._lock = threading.Lock()
        self._font = None
        self._table = None

    def png(self, terminal, rrn, code):
        """-> PNG bytes, or None when there is no such receipt or the code
        is not one of the transaction's."""
        ledger = self.simulator.ledger
        record = signatures.receipt_of(ledger, tid=terminal, rrn=rrn)
        # The code is checked whether or not there is a receipt, so that the
        # time of a 404 does not tell a guesser which RRNs have one.
        row = record["txn"] if record is not None else {"tid": terminal, "batch": 0, "trace": 0, "rrn": rrn,
                                                       "amount": 0, "host_date": "", "kind": "sale"}
        found = receipts.verify_for(self.simulator.acquirer.master_key, row, code)
        if record is None or found is None:
            return None
        with self._lock:
            if self._font is None:
                from firmware import font, gb2312
                self._font = font.load_font()
                self._table = gb2312.load_table()
            return ereceipt.png_bytes(record, self._table, self._font)

    def close(self):
        with self._lock:
            if self._font is not None:
                self._font.close()
                self._font = None


def response(status, body=b"", content_type="text/plain; charset=utf-8", extra=()):
    head = ["HTTP/1.1 %d %s" % (status, REASONS[status]), "Content-Type: %s" % content_type,
            "Content-Length: %d" % len(body), "Cache-Control: no-store", "Connection: close"]
    head += list(extra)
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def _plain(status, text):
    return response(status, (text + "\n").encode("utf-8"))


async def _answer(desk, reader):
    """Read one request head; -> the response bytes (None: nothing to say,
    just close)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
    except asyncio.LimitOverrunError:
        return _plain(431, "request head over %d bytes" % MAX_HEAD)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError):
        return None
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        return _plain(400, "not an HTTP/1 request")
    method, target, _version = parts
    path, _, query = target.partition("?")
    if path != PATH:
        return _plain(404, "no such page")
    if method != "GET":
        return response(405, b"GET only\n", extra=("Allow: GET",))
    try:
        terminal, rrn, code = parse_query(query)
    except BadRequest as e:
        return _plain(400, str(e))
    png = await asyncio.to_thread(desk.png, terminal, rrn, code)
    if png is None:
        return _plain(404, "no receipt for this terminal, reference number and code")
    return response(200, png, "image/png")


async def serve_receipts(simulator, port, host="127.0.0.1"):
    """Start the e-receipt server on the running loop; -> the asyncio
    server (its port: server.sockets[0].getsockname()[1]; close() it, then
    desk.close() through server.receipt_desk)."""
    desk = ReceiptDesk(simulator)
    busy = [0]

    async def client(reader, writer):
        busy[0] += 1
        try:
            if busy[0] > MAX_CONNECTIONS:
                answer = _plain(503, "busy")
            else:
                try:
                    answer = await _answer(desk, reader)
                except Exception as e:   # a bug here must not take the host down
                    answer = _plain(500, type(e).__name__)
            if answer is not None:
                writer.write(answer)
                await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            busy[0] -= 1
            writer.close()

    server = await asyncio.start_server(client, host, port, limit=MAX_HEAD)
    server.receipt_desk = desk
    return server
