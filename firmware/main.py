"""Boot: build the app from a configuration and run it.

A configuration names each device by address (hal.open_device) and may
override settings:

    {"devices": {"keypad": "sim:", "card_reader": "sim:", "printer": "sim:",
                 "modem": "sim:", "display": "sim:", "clock": "sim:",
                 "storage": "dir:/var/pos", "keystore": "sim:"},
     "settings": {"host_port": 5555, "lang": "en"}}

On the handset, `micropython -m firmware.main /etc/pos.json` runs it.
"""

import json
import sys

from hal import open_device
from firmware.app import App, Devices
from firmware.settings import Settings

SIM_DEVICES = {"keypad": "sim:", "card_reader": "sim:", "printer": "sim:", "modem": "sim:",
               "display": "sim:", "clock": "sim:", "storage": "dir:pos-data", "keystore": "sim:"}


def open_devices(addresses):
    """Open every device the app needs; the key store keeps its state in storage."""
    merged = dict(SIM_DEVICES)
    merged.update(addresses or {})
    opened = {}
    for name in Devices.NAMES:
        if name == "keystore":
            continue
        opened[name] = open_device(name, merged[name])
    opened["keystore"] = open_device("keystore", merged["keystore"], storage=opened["storage"])
    return Devices(**opened)


def build_app(config, log_stream=None):
    devices = open_devices(config.get("devices"))
    settings = Settings(devices.storage).load()
    if config.get("settings"):
        settings.update(config["settings"])
    return App(devices, settings, log_stream=log_stream)


def main(argv=None):
    from hal.compat import asyncio
    argv = sys.argv[1:] if argv is None else argv
    config = {}
    if argv:
        with open(argv[0]) as f:
            config = json.load(f)
    app = build_app(config, log_stream=sys.stdout)
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
