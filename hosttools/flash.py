"""pos-flash: put a signed bundle on a handset over its service UART.

    pos-flash --port /dev/ttyUSB0 app.bundle       upload (resumable), install, reboot, health check
    pos-flash --port socket://127.0.0.1:7000 app.bundle      the emulator
    pos-flash --port URL --status | --mark-good | --rollback

URL is anything pyserial's serial_for_url() takes. The protocol is in
firmware/update/proto.py and docs/FLASHING.md. Every error is a sentence
that says what to do next; the exit status is 1.
"""

import argparse
import base64
import contextlib
import hashlib
import sys
import time

from firmware.update import bundle as fmt
from firmware.update import proto

DEFAULT_BAUD = 115200
REPLY_TIMEOUT_S = 20
STATUS_TIMEOUT_S = 5
WRITE_TIMEOUT_S = 30
CHUNK = 8192


class FlashError(Exception):
    """A plain sentence for the bench engineer."""


class Device:
    """The handset's end of the update protocol, over a pyserial port."""

    def __init__(self, port, reply_timeout_s=REPLY_TIMEOUT_S):
        self.port = port
        self.reply_timeout_s = reply_timeout_s
        self._splitter = proto.PortSplitter()
        self._pending = []
        self._next_id = 1

    @classmethod
    def open(cls, url, baud=DEFAULT_BAUD, reply_timeout_s=REPLY_TIMEOUT_S):
        import serial
        try:
            # A handset that stopped reading (hung, or mid-reboot with its
            # UART's buffer full) must end in a message, not a write blocked
            # for ever: a chunk takes under a second at 115200.
            port = serial.serial_for_url(url, baudrate=baud, timeout=0.2, write_timeout=WRITE_TIMEOUT_S)
        except (serial.SerialException, ValueError, OSError) as e:
            raise FlashError("cannot open port %s (%s): check the name (on Linux ls /dev/ttyUSB* "
                             "/dev/ttyACM*), that no other program holds it and that you are in "
                             "the dialout group" % (url, e))
        return cls(port, reply_timeout_s)

    def close(self):
        self.port.close()

    def hello(self, tries=4, timeout_s=3):
        """The first request: asked again a few times, because a handset
        whose last sender went away mid-frame drops that frame only after
        a second of silence (firmware/port.py) and may swallow this one."""
        with self.replies_within(timeout_s):
            for attempt in range(tries):
                try:
                    return self.request("hello")
                except FlashError:
                    if attempt == tries - 1:
                        raise

    @contextlib.contextmanager
    def replies_within(self, timeout_s):
        """Requests inside wait `timeout_s` for their replies; the reply
        timeout is what it was again afterwards."""
        saved = self.reply_timeout_s
        self.reply_timeout_s = timeout_s
        try:
            yield
        finally:
            self.reply_timeout_s = saved

    def request(self, op, **fields):
        message = {"id": self._next_id, "op": op}
        self._next_id += 1
        message.update(fields)
        return self._exchange(proto.encode_json(message))

    def chunk(self, offset, data):
        return self._exchange(proto.encode_chunk(offset, data))

    def send_chunk(self, offset, data):
        """Send a chunk without waiting; reply() reads its answer."""
        self._send(proto.encode_chunk(offset, data))

    def _exchange(self, frame):
        self._send(frame)
        return self.reply()

    def _send(self, frame):
        import serial
        try:
            self.port.write(frame)
        except serial.SerialException as e:
            raise FlashError("the port failed (%s): check the cable, then run pos-flash again "
                             "(the upload resumes where it stopped)" % e)

    def reply(self):
        import serial
        try:
            return self._reply()
        except serial.SerialException as e:
            raise FlashError("the port failed (%s): check the cable, then run pos-flash again "
                             "(the upload resumes where it stopped)" % e)

    def _reply(self):
        deadline = time.monotonic() + self.reply_timeout_s
        while True:
            for message in self._pending:
                if message[0] == "frame" and message[1] == proto.KIND_JSON:
                    try:
                        reply = proto.decode_json(message[2])
                    except proto.FrameError:
                        continue
                    if "ok" in reply:   # not our own request echoed back (a loop, a local echo)
                        self._pending = self._pending[self._pending.index(message) + 1:]
                        return reply
            self._pending = []
            if time.monotonic() > deadline:
                raise FlashError("no device answering on %s: check the cable, the port and the baud "
                                 "rate, and that the handset is on" % self.port.name)
            data = self.port.read(self.port.in_waiting or 1)
            if data:
                self._pending.extend(m for m in self._splitter.feed(data) if m[0] == "frame")


def _check(reply, doing):
    if not reply.get("ok"):
        raise FlashError("the handset refused %s: %s" % (doing, reply.get("error")))
    return reply


def describe(hello):
    return ("%s serial %s: version %s in slot %s%s, good slot %s, %s KB free, protocol %s"
            % (hello.get("model"), hello.get("serial"), hello.get("version"), hello.get("slot"),
               " (on trial, %s tries left)" % hello.get("tries") if hello.get("on_trial") else "",
               hello.get("good"), (hello.get("free") or 0) // 1024 if hello.get("free") is not None else "?",
               hello.get("protocol")))


class Progress:
    """A progress line on stderr: bar, bytes/s, time left."""

    def __init__(self, total, start_at, stream=sys.stderr):
        self.total = total
        self.start_at = start_at
        self.started = time.monotonic()
        self.stream = stream

    def show(self, done):
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self.start_at) / elapsed
        left = (self.total - done) / rate if rate > 0 else 0
        width = 30
        filled = int(width * done / self.total)
        self.stream.write("\r[%s%s] %3d%%  %d/%d KB  %.1f KB/s  %d s left "
                          % ("#" * filled, " " * (width - filled), 100 * done // self.total, done // 1024,
                             self.total // 1024, rate / 1024, left))
        self.stream.flush()

    def end(self):
        self.stream.write("\n")


def upload(device, data, progress=None, chunk=CHUNK, on_chunk=None, window=2, retries=3):
    """Send the bundle; -> bytes the device held when we started (resume point).
    A reply that never comes (bytes lost on a line without flow control, a
    handset that stalled) is retried from what the handset holds: the
    begin request says how far it got."""
    manifest_bytes, _, header_size = fmt.split_header(data)
    digest = hashlib.sha256(data).hexdigest()
    header = base64.b64encode(data[:header_size]).decode()
    received = _begin(device, data, digest, header)
    resumed_at = received
    bar = Progress(len(data), received) if progress else None
    lost = 0
    while True:
        try:
            _send_chunks(device, data, received, chunk, window, bar, on_chunk)
            break
        except LineLost:
            lost += 1
            if lost > retries:
                raise FlashError("the handset stopped answering mid-upload (%d tries): check the cable, "
                                 "then run pos-flash again (the upload resumes)" % lost)
            time.sleep(1.5)   # the handset drops a frame cut short after 1 s of silence
            received = _begin(device, data, digest, header)
    if bar:
        bar.end()
    return resumed_at


class LineLost(Exception):
    pass


def _begin(device, data, digest, header):
    reply = _check(device.request("begin", size=len(data), sha256=digest, header=header), "the update")
    received = reply["received"]
    if hashlib.sha256(data[:received]).hexdigest() != reply.get("received_sha256"):
        # The part the handset holds is not this bundle's start: start over.
        reply = _check(device.request("begin", size=len(data), sha256=digest, header=header, restart=True),
                       "the update")
        received = reply["received"]
    return received


def _send_chunks(device, data, received, chunk, window, bar, on_chunk):
    # Two chunks on the line at once: the handset writes one while the next
    # arrives, so the line never waits for a reply (stop-and-wait lost ~5 %).
    in_flight = []
    offset = received
    while received < len(data):
        while offset < len(data) and len(in_flight) < window:
            piece = data[offset:offset + chunk]
            device.send_chunk(offset, piece)
            in_flight.append(offset)
            offset += len(piece)
        try:
            reply = device.reply()
        except FlashError as e:
            if "no device answering" in str(e):
                raise LineLost()
            raise
        sent_at = in_flight.pop(0)
        if not reply.get("ok"):
            if "expected" in reply.get("error", "") or "damaged" in reply.get("error", ""):
                raise LineLost()   # a chunk lost or damaged on the line: resume from what it holds
            raise FlashError("the handset refused the chunk at %d: %s" % (sent_at, reply.get("error")))
        received = reply["received"]
        if bar:
            bar.show(received)
        if on_chunk:
            on_chunk(received, len(data))


def flash(device, data, out=print, progress=True, wait_s=120, reboot_wait_s=60):
    """The whole update: identity, upload, install, reboot, health check."""
    manifest = fmt.parse_manifest(fmt.split_header(data)[0])
    hello = _check(device.hello(), "hello")
    out("handset: " + describe(hello))
    out("bundle:  version %s for %s, %d bytes" % (manifest["version"], manifest["target"], len(data)))
    resumed = upload(device, data, progress)
    if resumed > fmt.header_size(data):
        out("resumed the upload at %d%% (%d bytes were on the handset already)" % (100 * resumed // len(data), resumed))
    reply = _check(device.request("install"), "the install")
    out("installed version %s in slot %s; it boots on trial (%d tries)" % (reply["version"], reply["slot"], reply["tries"]))
    deadline = time.monotonic() + reboot_wait_s
    while True:
        reply = device.request("reboot")
        if reply.get("ok"):
            break
        if time.monotonic() > deadline:
            raise FlashError("the handset did not become idle to reboot (%s); the new version boots at "
                             "its next restart" % reply.get("error"))
        out("waiting: %s" % reply.get("error"))
        time.sleep(3)
    out("rebooting...")
    return wait_healthy(device, manifest["version"], out, wait_s)


def wait_healthy(device, version, out=print, wait_s=120):
    """Poll until the new version has passed its health check (or rolled back)."""
    # A running handset answers a status at once; one that lost the
    # request's first byte in its reboot drops the rest after a second of
    # silence (firmware/port.py), so asking again soon beats waiting out
    # the transfer's reply timeout.
    with device.replies_within(min(device.reply_timeout_s, STATUS_TIMEOUT_S)):
        return _poll_until_healthy(device, version, out, wait_s)


def _poll_until_healthy(device, version, out, wait_s):
    deadline = time.monotonic() + wait_s
    last = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            hello = device.request("status")
        except FlashError:
            continue  # rebooting: nothing answers for a moment
        if not hello.get("ok"):
            continue
        last = hello
        if hello.get("version") == version and not hello.get("on_trial"):
            out("version %s runs in slot %s and passed its health check (marked good)" % (version, hello["slot"]))
            return hello
        if hello.get("restored") == version:
            raise FlashError("update failed on the handset: version %s did not pass its health check, "
                             "previous version %s restored; see the handset's log" % (version, hello.get("version")))
    raise FlashError("version %s did not pass its health check within %d s (last seen: %s); check the "
                     "handset's screen and log, or pos-flash --rollback"
                     % (version, wait_s, describe(last) if last else "no answer"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pos-flash", description="Flash a signed bundle over the service UART (docs/FLASHING.md).")
    parser.add_argument("bundle", nargs="?")
    parser.add_argument("--port", required=True, help="any pyserial URL: /dev/ttyUSB0, socket://HOST:PORT, rfc2217://...")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    parser.add_argument("--status", action="store_true", help="print the handset's identity and boot state")
    parser.add_argument("--mark-good", action="store_true", help="bench: mark the version on trial good now")
    parser.add_argument("--rollback", action="store_true", help="bench: go back to the last good version")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--wait", type=int, default=180, help="seconds to wait for the health check")
    args = parser.parse_args(argv)
    actions = sum(bool(x) for x in (args.bundle, args.status, args.mark_good, args.rollback))
    if actions != 1:
        parser.error("give a bundle, or one of --status, --mark-good, --rollback")
    device = None
    try:
        if args.bundle:
            try:
                with open(args.bundle, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise FlashError("cannot read %s: %s" % (args.bundle, e.strerror))
            fmt.split_header(data)
        device = Device.open(args.port, args.baud)
        device.hello()
        if args.status:
            reply = _check(device.request("status"), "status")
            print(describe(reply))
            if reply.get("restored"):
                print("update to %s failed and was rolled back" % reply["restored"])
            if reply.get("upload"):
                up = reply["upload"]
                print("upload in progress: version %s, %d of %d bytes" % (up.get("version"), up["received"], up["size"]))
            if reply.get("busy"):
                print("busy: %s" % reply["busy"])
        elif args.mark_good:
            reply = _check(device.request("mark_good"), "mark-good")
            print("slot %s marked good" % reply["slot"])
        elif args.rollback:
            reply = _check(device.request("rollback"), "the rollback")
            print("rolling back: slot %s boots next" % reply["slot"])
        else:
            flash(device, data, progress=not args.no_progress, wait_s=args.wait)
        return 0
    except (FlashError, fmt.BundleError) as e:
        print("pos-flash: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\npos-flash: interrupted; run it again to resume the upload", file=sys.stderr)
        return 1
    finally:
        if device is not None:
            device.close()


if __name__ == "__main__":
    sys.exit(main())
