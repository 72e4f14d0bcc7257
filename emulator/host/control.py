"""The host simulator's control channel: JSON Lines on a loopback port, so
that a test (or the emulator's window) can arm and clear faults on a
`pos-host` it did not start itself.

    pos-host --port 5555 --control 5556
    -> {"op": "fault", "kind": "no_reply", "mti": "0200", "count": 1}
    <- {"ok": true, "faults": [{"kind": "no_reply", "mti": "0200", "remaining": 1, ...}]}
    -> {"op": "clear"}
    <- {"ok": true, "faults": []}
    -> {"op": "faults"}
    <- {"ok": true, "faults": []}
    -> {"op": "qr_customer", "order": "AL26120100000001", "action": "pay"}
    <- {"ok": true, "status": "PAID"}
    -> {"op": "params", "tid": "10000001", "set": {"qps_no_pin_limit_fen": 30000}}
    <- {"ok": true, "params": {"qps_no_pin_limit_fen": 30000, ...}}

One request a line, one reply a line; a bad line gets {"ok": false,
"error": ...} and changes nothing. Every request may carry an "id", echoed.
The channel listens on loopback only: it arms faults and plays the QR
customer's phone (pays or cancels an order: `wallet` names the deck's
payment code that pays a code the terminal shows), which is all a test
needs, and nothing else (no keys).
"""

import asyncio
import json
import socket

from emulator.host.faults import Fault

# op -> the arguments it takes (besides "op" and "id"); anything else is refused
OPS = {
    "fault": ("kind", "mti", "count", "delay_ms", "code"),
    "clear": (),
    "faults": (),
    "qr_customer": ("order", "action", "wallet"),
    # the terminal parameters a terminal downloads at its next sign-on
    # (firmware/termparams.py): set some for one terminal ("tid") or for
    # every one; without "set", what that terminal would get
    "params": ("tid", "set"),
}
MAX_LINE = 4096


def describe(faults):
    return [{"kind": f.kind, "mti": f.mti, "remaining": f.remaining, "delay_ms": f.delay_ms,
             "code": f.code, "fired": f.fired} for f in faults.pending()]


def answer(host, line):
    """One request line (bytes or str) -> the reply dict; arms or clears
    the faults of `host` (an emulator.host.server.HostSimulator), or acts
    as a QR customer at it."""
    faults = host.faults
    try:
        request = json.loads(line)
    except ValueError:
        return {"ok": False, "error": "line is not JSON"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    reply = {"ok": True}
    if "id" in request:
        reply["id"] = request["id"]
    op = request.get("op")
    if op not in OPS:
        reply.update(ok=False, error="unknown op %r (known: %s)" % (op, ", ".join(sorted(OPS))))
        return reply
    unknown = [name for name in request if name not in ("op", "id") + OPS[op]]
    if unknown:
        reply.update(ok=False, error="op %s takes no argument %s" % (op, ", ".join(sorted(unknown))))
        return reply
    if op == "fault":
        args = {name: request[name] for name in OPS[op] if name in request}
        if args.get("count") == 0:
            args["count"] = None  # 0: until cleared, as --fault and the test protocol say
        try:
            Fault(**args)  # check everything before arming anything
        except (TypeError, ValueError) as e:
            reply.update(ok=False, error=str(e))
            return reply
        faults.add(**args)
    elif op == "clear":
        faults.clear()
    elif op == "params":
        from emulator.host.handlers import EVERY_TERMINAL
        tid = request.get("tid", EVERY_TERMINAL)
        values = request.get("set", {})
        if not isinstance(tid, str) or not isinstance(values, dict):
            reply.update(ok=False, error="params takes tid (a string) and set (an object of name: value)")
            return reply
        try:
            reply["params"] = host.acquirer.set_params(values, tid)
        except ValueError as e:
            reply.update(ok=False, error=str(e))
        return reply
    elif op == "qr_customer":
        from emulator.hil import qr_customer
        if request.get("action") not in ("pay", "cancel") or not isinstance(request.get("order"), str):
            reply.update(ok=False, error="qr_customer needs order and action pay or cancel")
            return reply
        try:
            reply.update(qr_customer(host, request))
        except (KeyError, ValueError) as e:
            reply.update(ok=False, error=str(e.args[0] if e.args else e))
        return reply
    reply["faults"] = describe(faults)
    return reply


async def serve_control(simulator, port, host="127.0.0.1"):
    """Start the control server on the running loop; -> the asyncio server
    (its port: server.sockets[0].getsockname()[1])."""

    async def client(reader, writer):
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError:
                    writer.write(b'{"ok": false, "error": "line too long"}\n')
                    return
                except asyncio.IncompleteReadError:
                    return
                if len(line) > MAX_LINE:
                    reply = {"ok": False, "error": "line too long (max %d bytes)" % MAX_LINE}
                else:
                    reply = answer(simulator, line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(client, host, port, limit=MAX_LINE + 1)


class HostControl:
    """A client of the control channel: HostControl("127.0.0.1:5556").fault("drop", mti="0200")."""

    def __init__(self, address, timeout_s=5):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("control address must be HOST:PORT, not %r" % (address,))
        self.address = (host, int(port))
        self.timeout_s = timeout_s

    def request(self, op, **args):
        request = dict(args, op=op)
        with socket.create_connection(self.address, self.timeout_s) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data)
        if not reply.get("ok"):
            raise ValueError(reply.get("error", "control request failed"))
        return reply

    def fault(self, kind, mti=None, count=1, delay_ms=None, code=None):
        args = {"kind": kind, "count": count}
        for name, value in (("mti", mti), ("delay_ms", delay_ms), ("code", code)):
            if value is not None:
                args[name] = value
        return self.request("fault", **args)["faults"]

    def clear(self):
        return self.request("clear")["faults"]

    def faults(self):
        return self.request("faults")["faults"]

    def params(self, tid=None, **values):
        """Set terminal parameters (for terminal `tid`, else every one);
        -> what that terminal downloads at its next sign-on."""
        args = {"set": values}
        if tid is not None:
            args["tid"] = tid
        return self.request("params", **args)["params"]

    def qr_customer(self, order, action="pay", wallet=None):
        args = {"order": order, "action": action}
        if wallet is not None:
            args["wallet"] = wallet
        return self.request("qr_customer", **args)["status"]
