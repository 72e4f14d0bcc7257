"""The handset on simulated devices, running in a thread of its own, with a
synchronous face for the emulator, the HIL bridge and the tests.

    handset = Handset(data_dir, settings={"host_port": port})
    handset.start()
    handset.keys("1234"); handset.key("ENTER"); handset.card("swipe", "debit-mag")
    handset.wait_text("消费成功")
    handset.power_cut(); handset.start()     # the journal on disk is all that survives

The firmware inside is exactly the MicroPython-compatible code; this module
only owns the thread and the event loop it runs on.
"""

import asyncio
import threading

from firmware.driver import Driver, DriverError
from firmware.main import build_app, run_app, update_service

DEFAULT_TEST_SETTINGS = {"message_ms": 300}

# The emulator runs on the simulated key store with the public test master
# key, which a production terminal refuses to sign on with.
EMULATOR_SETTINGS = {"test_keys": True}


class HandsetError(Exception):
    pass


class Handset:
    _powered_off = []  # tasks of loops stopped by power_cut(), never to run again (see run())

    def __init__(self, data_dir, settings=None, devices=None, log_stream=None, before_boot=None, image_dir=None,
                 on_frame=None):
        """before_boot: called with the app once it is built, before it
        boots (a test wraps devices there: tests/flows/test_crash_matrix.py).
        image_dir: the firmware image as folders (slot-a, slot-b, boot.json,
        upload/, trusted_keys.json): pos-flash updates it over the HIL port
        as it would a handset (docs/FLASHING.md). The code that runs is
        always this tree's; the slots give the version, the boot state
        machine and the health check.
        on_frame(direction, frame): every ISO 8583 frame the modem carries,
        watched from the terminal side (emulator/spy.py), on the loop thread."""
        self.data_dir = str(data_dir)
        self.before_boot = before_boot
        self.image_dir = str(image_dir) if image_dir else None
        self.boot = None
        self.update_service = None
        self.on_frame = on_frame
        self.settings = dict(EMULATOR_SETTINGS)
        self.settings.update(settings or {})
        self.devices = dict(devices or {})
        self.log_stream = log_stream
        self.app = None
        self.driver = None
        self._loop = None
        self._thread = None
        self._main = None
        self._failure = None
        self._cut = False

    # -- life cycle -----------------------------------------------------------

    def start(self, wait_idle=True, timeout_s=30):
        """Boot the firmware (journal replay, recovery, sign-on)."""
        if self._thread is not None:
            raise HandsetError("handset already running")
        devices = {"storage": "dir:" + self.data_dir}
        devices.update(self.devices)
        config = {"devices": devices, "settings": self.settings,
                  "update": {"model": "pos-emulator", "serial": "EMULATOR"}}
        self.boot = self._choose_slot() if self.image_dir else None
        self.app = build_app(config, self.log_stream, self.boot)
        self.update_service = update_service(config, self.boot, lambda: self.app)
        if self.on_frame is not None:
            from emulator.spy import FrameTap
            FrameTap(self.on_frame).install(self.app.devices.modem)
        self.driver = Driver(self.app)
        if self.before_boot is not None:
            self.before_boot(self.app)
        ready = threading.Event()
        self._failure = None
        self._cut = False

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._main = loop.create_task(run_app(self.app, self.boot))
            ready.set()
            try:
                loop.run_until_complete(self._main)
            except asyncio.CancelledError:
                pass
            except BaseException as e:  # noqa: BLE001 - reported to the caller below
                self._failure = e
            finally:
                if not self._cut:
                    _cancel_all(loop)
                    loop.close()
                else:
                    # After a power cut the tasks are left as they stand: no
                    # `finally` of the firmware runs, as none would on the
                    # device. They are kept referenced for the life of the
                    # process so that garbage collection does not close them
                    # (and run those `finally`s) later either; the loop
                    # itself is closed, which frees its selector and pipes
                    # without running anything.
                    Handset._powered_off.append(asyncio.all_tasks(loop))
                    loop.close()

        self._thread = threading.Thread(target=run, name="handset", daemon=True)
        self._thread.start()
        ready.wait(5)
        if wait_idle:
            self.wait_idle(timeout_s * 1000)

    def power_cut(self):
        """Stop at once: no clean shutdown, every task abandoned where it
        stands. Only what reached the disk survives, as on a real power cut."""
        if self._thread is None:
            return
        loop = self._loop
        self._cut = True
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def stop(self):
        """A clean shutdown (the app's loop ends after the current step)."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self.app.stop)
        self._thread.join(10)
        if self._thread.is_alive():
            self.power_cut()
        self._thread = None

    def reboot(self, wait_idle=True):
        self.power_cut()
        self.start(wait_idle)

    # -- the firmware image (slots as folders) -----------------------------------

    def _choose_slot(self):
        from firmware import boot as bootstage
        flash = bootstage.Flash(self.image_dir)
        if bootstage.choose(flash, log=lambda message: None) is None:
            seed_image(flash)
        boot = bootstage.choose(flash, log=self._log_line)
        boot._wake = self._reboot_soon
        return boot

    def _log_line(self, message):
        if self.log_stream is not None:
            self.log_stream.write(message + "\n")

    def _reboot_soon(self):
        """The boot record asks for a reboot (after an install, a failed
        health check, a rollback): done from a thread of its own, since the
        request may come from the handset's own loop."""
        def reboot():
            try:
                self.reboot(wait_idle=False)
            except Exception as e:  # noqa: BLE001 - logged; the next reset boots it
                self._log_line("reboot: %s" % e)
        threading.Thread(target=reboot, name="reboot", daemon=True).start()

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    # -- calling into the loop -------------------------------------------------

    def call(self, fn, *args):
        """Run a plain function on the handset's loop thread; -> its result."""
        if not self.running:
            raise HandsetError("handset is not running%s" % (": %r" % self._failure if self._failure else ""))
        done = threading.Event()
        box = {}

        def invoke():
            try:
                box["value"] = fn(*args)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = e
            done.set()

        self._loop.call_soon_threadsafe(invoke)
        if not done.wait(30):
            raise HandsetError("handset did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def run(self, coro, timeout_s=120):
        """Run a coroutine on the handset's loop; -> its result."""
        if not self.running:
            raise HandsetError("handset is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    # -- the cashier's hands and eyes ------------------------------------------

    def key(self, name):
        self.call(self.driver.key, name)

    def keys(self, text):
        self.call(self.driver.keys, text)

    def enter(self):
        self.key("ENTER")

    def card(self, action, name=None):
        self.call(self.driver.card, action, name)

    def scan(self, name_or_text):
        self.call(self.driver.scan, name_or_text)

    def sign(self, strokes):
        """Draw on the touch panel: strokes of (x, y) screen pixels; a
        stroke of one point is a tap."""
        self.run(self.driver.sign(strokes))

    def screen(self):
        return self.call(self.driver.screen)

    def screen_text(self):
        return self.call(self.driver.screen_text)

    def wait_text(self, text, timeout_ms=10000):
        return self.run(self.driver.wait_text(text, timeout_ms), timeout_ms / 1000 + 5)

    def wait_idle(self, timeout_ms=20000):
        return self.run(self.driver.wait_idle(timeout_ms), timeout_ms / 1000 + 5)

    def printout(self, since=0):
        return self.call(self.driver.printout, since)

    def printout_count(self):
        return self.call(self.driver.printout_count)

    def journal(self, batch=None):
        return self.call(self.driver.journal, batch)

    @property
    def sim(self):
        """The simulated devices, for fault switches (paper, modem)."""
        return self.app.devices


def seed_image(flash):
    """A blank emulator image: slot a holds "this tree" (no files to check),
    good, so that the first pos-flash has something to replace."""
    import json
    from firmware import boot as bootstage
    from firmware.app import VERSION
    from firmware.update.formats import DATA_FORMATS
    manifest = {"format": 1, "version": VERSION, "target": "pos-handset", "files": [], "data": DATA_FORMATS,
                "key": None, "compression": "none", "payload": {"size": 0, "sha256": ""}, "mpy": None,
                "built": "the emulator's own tree"}
    folder = bootstage.slot_dir("a")
    flash.makedirs(folder)
    flash.write_file(folder + "/" + bootstage.MANIFEST, json.dumps(manifest).encode())
    bootstage.BootState(flash).save()
    if not flash.exists("trusted_keys.json"):
        flash.write_file("trusted_keys.json", b'{"keys": {}}')


def trust_keys(image_dir, public_keys):
    """Add raw public keys to the emulator image's trusted_keys.json."""
    import json
    import os
    from firmware import boot as bootstage
    from firmware.update.bundle import key_id
    flash = bootstage.Flash(image_dir)
    if not os.path.isdir(image_dir):
        os.makedirs(image_dir)
    data = flash.read("trusted_keys.json")
    keys = json.loads(data)["keys"] if data else {}
    for key in public_keys:
        keys[key_id(key)] = key.hex()
    flash.write_atomic("trusted_keys.json", json.dumps({"keys": keys}, indent=1).encode())


def _cancel_all(loop):
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        try:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        except RuntimeError:
            pass


__all__ = ["Handset", "HandsetError", "DriverError"]
