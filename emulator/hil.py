"""The HIL bridge: the emulated handset's test port, over a pty or TCP.

    port = HilPort(Bridge(World(handset, host)), "pty")   # or "socket://127.0.0.1:7000"
    print(port.start())                                # /dev/pts/5 or socket://127.0.0.1:7000
    ...
    port.stop()

A real handset answers the test protocol itself (firmware/testproto.py on
its debug UART). Here the same firmware code answers, reached through a
bridge that lives outside the firmware: it runs on an event loop of its own,
so it survives a power cut and answers again after the reboot. The bridge
also does what only an emulator can (docs/HIL.md): cut the power, reboot,
take the paper out, take the host or the modem down, arm host faults. A real
handset answers those "unsupported on this target".

The pty is the one a USB serial adapter would give a bench: the bridge holds
the master side, tests open the slave path with pyserial like /dev/ttyUSB0.
"""

import asyncio
import os
import threading
import tty

from firmware import port as service_port, testproto
from firmware.update import proto
from hal.sim.deck import find_payment_code

FIRMWARE_OFF = "firmware is off (power cut): send reset"
OP_TIMEOUT_S = 60  # on top of an op's own timeout_ms


class Bridge:
    """Answers parsed test-protocol requests for an emulated handset in its
    World (emulator/world.py: the host, modem, paper and power switches).
    Host and fault ops need the emulator's own host (or an external host's
    control channel, for fault)."""

    def __init__(self, world):
        self.world = world
        self.handset = world.handset
        self._lock = None  # an asyncio.Lock, made on the bridge's loop

    @property
    def update(self):
        """The update protocol's answer for whatever boot the handset is in."""
        return UpdatePort(self.handset)

    def ops(self):
        ops = sorted(testproto.OPS)
        if not self.world.host_owned:
            ops = [op for op in ops if op not in ("host", "qr_customer")
                   and (op != "fault" or self.world.control is not None)]
        return ops

    async def answer(self, request):
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one request at a time, whichever client sent it
            op = request["op"]
            emulator_op = getattr(self, "_op_" + op, None) if op in testproto.EMULATOR_OPS else None
            if emulator_op is not None:
                try:
                    result = await emulator_op(request)
                except Exception as e:  # noqa: BLE001 - reported to the test, the bridge goes on
                    return testproto.error_reply(request["id"], "%s: %s" % (op, e))
                reply = {"id": request["id"], "ok": True}
                reply.update(result or {})
                if self.handset.running:
                    reply["screens"] = await asyncio.to_thread(self.handset.call, self.handset.driver.screens)
                return reply
            reply = await self._firmware(request)
            if op == "hello" and reply.get("ok"):
                reply["target"] = "emulator"
                reply["ops"] = self.ops()
            return reply

    async def _firmware(self, request):
        """The firmware's own handler, run on the handset's event loop."""
        handset = self.handset
        if not handset.running:
            return testproto.error_reply(request["id"], FIRMWARE_OFF)
        coro = testproto.handle(handset.driver, request)
        timeout_s = request.get("timeout_ms", 0) / 1000 + OP_TIMEOUT_S
        try:
            return await asyncio.to_thread(handset.run, coro, timeout_s)
        except Exception as e:  # noqa: BLE001 - reported to the test, the bridge goes on
            coro.close()
            if handset.running:
                return testproto.error_reply(request["id"], "the firmware did not answer within %d s (%s)"
                                             % (timeout_s, type(e).__name__))
            return testproto.error_reply(request["id"], FIRMWARE_OFF)

    # -- what only the emulator can do (the World does it) -------------------------

    async def _op_power_cut(self, request):
        await asyncio.to_thread(self.world.power_cut)

    async def _op_reset(self, request):
        """Reboot (after a power cut: boot); replies once the idle screen is up."""
        handset = self.handset
        if handset.running:
            await asyncio.to_thread(handset.power_cut)
        await asyncio.to_thread(handset.start)

    async def _op_paper(self, request):
        self._running()
        await asyncio.to_thread(self.world.paper, request["state"], request.get("after"))

    async def _op_modem(self, request):
        self._running()
        await asyncio.to_thread(self.world.modem, request["state"] == "up")

    async def _op_clock(self, request):
        """The wall clock moves on (a lockout waited out in no time)."""
        self.handset.call(self._running().sim.clock.advance, request["advance_s"])

    async def _op_host(self, request):
        await asyncio.to_thread(self.world.host_state, request["state"])

    async def _op_fault(self, request):
        await asyncio.to_thread(self.world.fault, request["kind"], request.get("mti"),
                                request.get("count", 1), request.get("delay_ms"), request.get("code"))

    async def _op_qr_customer(self, request):
        return await asyncio.to_thread(qr_customer, self.world.own_host(), request)

    def _running(self):
        if not self.handset.running:
            raise RuntimeError(FIRMWARE_OFF)
        return self.handset


class UpdatePort:
    """Update-protocol frames for the emulated handset: answered by the
    firmware's own UpdateService (slots as folders), off the handset's loop
    (it only reads the app's idle state and works on the image's files)."""

    def __init__(self, handset):
        self.handset = handset

    def _service(self):
        if not self.handset.running or self.handset.update_service is None:
            return None
        return self.handset.update_service

    async def answer(self, kind, payload):
        service = self._service()
        if service is None:
            return proto.encode_json({"ok": False, "error": FIRMWARE_OFF if not self.handset.running
                                      else service_port.NO_UPDATES})
        return await service.answer(kind, payload)

    def bad_frame(self, reason):
        return proto.encode_json({"ok": False, "error": reason})


def parse_hil_url(url):
    """'pty' -> ('pty', None, None); 'socket://HOST:PORT' -> ('socket', HOST, PORT).
    Raises ValueError naming what is accepted."""
    if url == "pty":
        return "pty", None, None
    if url.startswith("socket://"):
        host, _, port = url[len("socket://"):].rpartition(":")
        if host and port.isdigit() and int(port) <= 65535:
            return "socket", host, int(port)
    raise ValueError("HIL port must be 'pty' or 'socket://HOST:PORT' (PORT 0-65535), not %r" % url)


class HilPort:
    """Serves a Bridge on a pty or a TCP port, on an event loop in a thread
    of its own. `url`: "pty" or "socket://HOST:PORT" (PORT 0: any free port)."""

    def __init__(self, bridge, url):
        self.kind, self._host, self._port = parse_hil_url(url)
        self.bridge = bridge
        self.url = url
        self.address = None
        self._loop = None
        self._thread = None
        self._server = None
        self._fds = []
        self._serving = None

    def start(self):
        """Open the port; -> what a test opens: the pty's path or socket://HOST:PORT."""
        ready = threading.Event()
        outcome = {}
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run():
            asyncio.set_event_loop(loop)
            try:
                outcome["address"] = loop.run_until_complete(self._open())
            except BaseException as e:  # noqa: BLE001 - re-raised in start()
                outcome["error"] = e
            ready.set()
            if "error" not in outcome:
                loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=run, name="hil-port", daemon=True)
        self._thread.start()
        ready.wait(10)
        if "error" in outcome:
            self._thread.join(5)
            self._thread = None
            raise outcome["error"]
        self.address = outcome["address"]
        return self.address

    def stop(self):
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    async def _open(self):
        if self.kind == "pty":
            return await self._open_pty()
        self._server = await asyncio.start_server(self._client, self._host, self._port)
        return "socket://%s:%d" % (self._host, self._server.sockets[0].getsockname()[1])

    async def _open_pty(self):
        master, slave = os.openpty()
        # Raw, no echo: the slave's line discipline must pass bytes as they
        # are (pyserial sets raw mode too when it opens the port). The slave
        # stays open here so that the master never reads EIO between two
        # test sessions.
        tty.setraw(slave)
        self._fds = [master, slave]
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        await loop.connect_read_pipe(lambda: protocol, os.fdopen(master, "rb", buffering=0, closefd=False))
        write_fd = os.dup(master)
        self._fds.append(write_fd)
        transport, write_protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
            os.fdopen(write_fd, "wb", buffering=0, closefd=False))
        writer = asyncio.StreamWriter(transport, write_protocol, None, loop)
        self._serving = loop.create_task(service_port.serve(reader, writer, self.bridge.answer, getattr(self.bridge, "update", None)))
        return os.ttyname(slave)

    async def _client(self, reader, writer):
        try:
            await service_port.serve(reader, writer, self.bridge.answer, getattr(self.bridge, "update", None))
        except (ConnectionError, OSError):
            pass  # the test went away mid-reply
        finally:
            writer.close()

    async def _close(self):
        if self._serving is not None:
            self._serving.cancel()
            try:
                await self._serving
            except BaseException:  # noqa: BLE001 - cancelled, or the pty failed; closing anyway
                pass
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []


def open_hil_port(world, url):
    """Start serving the world's handset on `url`; -> (HilPort, address to print)."""
    port = HilPort(Bridge(world), url)
    return port, port.start()


def qr_customer(host, request):
    """The customer on the phone (the test protocol's qr_customer op, for
    the emulator's and the virtual handset's bridges): confirms (pays) or
    cancels a QR order at the host; for a code the terminal shows (C2B),
    `wallet` names the test deck's payment code that pays it."""
    qr = host.acquirer.qr
    if request["action"] == "cancel":
        return {"status": qr.customer_cancels(request["order"])}
    wallet = request.get("wallet")
    code = find_payment_code(wallet).code if wallet else None
    return {"status": qr.customer_pays(request["order"], code)}
