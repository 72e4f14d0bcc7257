"""Boot: build the app from a configuration and run it.

A configuration names each device by address (hal.open_device) and may
override settings:

    {"devices": {"keypad": "sim:", "card_reader": "sim:", "printer": "sim:",
                 "modem": "sim:", "display": "sim:", "clock": "sim:",
                 "storage": "dir:/var/pos", "keystore": "sim:",
                 "touch": "evdev:/dev/input/event1"},
     "settings": {"host_port": 5555, "lang": "en"}}

A device left out takes its simulated one; an optional device (touch)
given as null is not there: a model without a touch panel has no signing
screen (the cardholder signs the paper slip).

On the handset the boot stage (firmware/boot.py, installed as
/opt/pos/boot.py) picks a firmware slot and calls run(config, boot=...);
`micropython -m firmware.main /etc/pos.json` runs the tree without slots.
"service_port": {"path": "/dev/ttyS1", "baud": 115200} names the service
UART: it answers the update protocol (docs/FLASHING.md) and, when the test
protocol is unlocked, the HIL suite (docs/HIL.md); "test_port" is its
older name. "update": {"model", "serial", "target", "tries"} describe the
handset to pos-flash.
"""

import json
import sys

from hal import open_device
from firmware.app import App, Devices
from firmware.settings import Settings, SettingsError

SIM_DEVICES = {"keypad": "sim:", "card_reader": "sim:", "printer": "sim:", "modem": "sim:",
               "display": "sim:", "clock": "sim:", "storage": "dir:pos-data", "keystore": "sim:",
               "scanner": "sim:", "touch": "sim:"}


def open_devices(addresses):
    """Open every device the app needs; the key store keeps its state in storage."""
    merged = dict(SIM_DEVICES)
    merged.update(addresses or {})
    opened = {}
    for name in Devices.NAMES:
        if name == "keystore":
            continue
        if merged[name] is None and name in Devices.OPTIONAL:
            opened[name] = None   # this model has none
            continue
        opened[name] = open_device(name, merged[name])
    opened["keystore"] = open_device("keystore", merged["keystore"], storage=opened["storage"])
    return Devices(**opened)


def build_app(config, log_stream=None, boot=None):
    devices = open_devices(config.get("devices"))
    from firmware import decommission
    if decommission.resume_at_boot(devices.storage, devices.keystore):
        # A device return the host had confirmed: its wipe is finished now,
        # and the devices open again as from the factory.
        devices = open_devices(config.get("devices"))
    settings = Settings(devices.storage).load()
    if config.get("settings") is not None:
        try:
            settings.update(config["settings"])
        except SettingsError as e:
            raise SettingsError("configuration: %s" % e)
    app = App(devices, settings, log_stream=log_stream)
    if boot is not None:
        if boot.version:
            app.version = boot.version
        if boot.restored:
            app.boot_notices.append("UPDATE_RESTORED")
    return app


async def run_app(app, boot=None):
    """The app, and beside it, when the boot stage started it, the update's
    boot duties: the health check of a trial, the rollback notice."""
    from hal.compat import asyncio
    if boot is not None:
        boot.idle = app.idle_event.is_set
        asyncio.create_task(_boot_duties(app, boot))
    await app.run()


async def _boot_duties(app, boot):
    from firmware.update import health
    await app.idle_event.wait()
    if boot.restored:
        boot.acknowledge_restored()  # the merchant has seen the notice at boot
    await health.watch(app, boot)


def update_service(config, boot, app_ref):
    """The update protocol's device side for this boot, or None without slots."""
    if boot is None:
        return None
    from firmware.update.service import UpdateService, mpy_version
    update = config.get("update") or {}
    identity = {"model": update.get("model", "pos-handset"), "serial": update.get("serial"),
                "target": update.get("target", "pos-handset")}
    return UpdateService(boot, identity, app_ref, mpy=mpy_version(), tries=update.get("tries", 3))


def open_uart(path, baud=115200):
    """The debug UART as an asyncio stream pair: raw 8N1 at `baud`, and
    VMIN = VTIME = 0 so a read returns what has arrived instead of waiting
    for all it asked for (termios indexes 6 and 5 of the control
    characters: MicroPython has no names for them)."""
    import termios
    from hal.compat import asyncio
    uart = open(path, "r+b")
    fd = uart.fileno()
    termios.setraw(fd)
    attrs = termios.tcgetattr(fd)
    speed = getattr(termios, "B%d" % baud, None)
    if speed is None:
        raise ValueError("baud rate %d not supported" % baud)
    attrs[4] = attrs[5] = speed
    attrs[6][6] = 0
    attrs[6][5] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    reader = asyncio.StreamReader(uart)
    reader.uart = uart  # closed by run() when the app stops (MicroPython's Stream.close() does not)
    return reader, asyncio.StreamWriter(uart, {})


async def run(config, log_stream=None, boot=None):
    """Boot the app and serve the service port when the configuration names
    one ("service_port", or its older name "test_port"): the update protocol
    when the boot stage started us (`boot`), the test protocol when unlocked
    (setting test_protocol; docs/HIL.md)."""
    from hal.compat import asyncio
    app = build_app(config, log_stream, boot)
    uart_config = config.get("service_port") or config.get("test_port")
    if not uart_config or (boot is None and not app.settings.test_protocol):
        await run_app(app, boot)
        return
    from firmware import port, testproto
    from firmware.driver import Driver
    handset = Rebootable(config, log_stream, app, boot)
    driver = Driver(app)
    driver.can_reset = True
    handset.start()
    updates = update_service(config, boot, lambda: handset.app)

    async def answer(request):
        if request.get("op") == "reset" and testproto.enabled(driver.app.settings):
            try:
                await handset.reboot(driver)
            except Exception as e:  # noqa: BLE001 - the port must keep answering
                return testproto.error_reply(request.get("id"), "reset: %s" % e)
            return {"id": request.get("id"), "ok": True}
        return await testproto.handle(driver, request)

    # The port lives beside the payment app, never instead of it: a port
    # that cannot open, fails or is closed leaves the app running.
    while True:
        uart = None
        try:
            reader, writer = open_uart(uart_config["path"], uart_config.get("baud", 115200))
            uart = reader
            await port.serve(reader, writer, answer if testproto.enabled(app.settings) else None,
                                    updates)
        except Exception as e:  # noqa: BLE001 - logged; the app goes on
            driver.app.log("service port %s: %s", uart_config["path"], e)
        finally:
            _close_quietly(uart)
        await asyncio.sleep(5)  # then open it again (a cable pulled and put back)


def _close_quietly(stream):
    # A reboot by the boot stage cancels us here: the UART must not stay
    # open behind the next slot's app.
    try:
        if stream is not None:
            stream.uart.close()
    except Exception:  # noqa: BLE001 - closing what may already be gone
        pass


class Rebootable:
    """The app as a task that the test protocol's `reset` can restart: the
    old app stops at its next step, its devices close, and a new one boots
    from the same configuration (journal replay, recovery, sign-on), as
    after switching the handset off and on."""

    def __init__(self, config, log_stream, app, boot=None):
        self._config = config
        self._log_stream = log_stream
        self.app = app
        self._boot = boot
        self._task = None

    def start(self):
        from hal.compat import asyncio
        self._task = asyncio.create_task(run_app(self.app, self._boot))

    async def reboot(self, driver, timeout_ms=60000):
        from hal.compat import TimeoutError, wait_for_ms
        old = self.app
        old.stop()
        try:
            await wait_for_ms(self._task, 5000)
        except TimeoutError:
            pass  # a flow still waiting on the host: cut off, as by the power switch
        except Exception:  # noqa: BLE001 - whatever the old app died of, the new one boots
            pass
        for device in old.devices.all():
            device.close()
        self.app = build_app(self._config, self._log_stream, self._boot)
        driver.use(self.app)
        self.start()
        await driver.wait_idle(timeout_ms)


def main(argv=None):
    from hal.compat import asyncio
    argv = sys.argv[1:] if argv is None else argv
    config = {}
    try:
        if argv:
            with open(argv[0]) as f:
                config = json.load(f)
            if not isinstance(config, dict):
                raise ValueError("%s: not an object" % argv[0])
        asyncio.run(run(config, log_stream=sys.stdout))
    except (OSError, ValueError, SettingsError) as e:
        # A configuration, settings or device problem at boot: say which,
        # plainly (settings.json: ...), never a traceback.
        print("pos firmware: cannot start: %s" % e)
        sys.exit(2)


if __name__ == "__main__":
    main()
