"""Terminal settings: defaults, overridden by settings.json in storage.

Settings are plain values (numbers, strings, booleans) so that the same
file works under MicroPython. An unknown name in the file is refused at
load, not ignored: a typo must not silently leave a default in force.
"""

import json

DEFAULTS = {
    "lang": "zh",
    "merchant_name": "测试商户 TEST SHOP",
    "merchant_id": "898100012340001",
    "terminal_id": "10000001",
    "host_address": "127.0.0.1",
    "host_port": 5555,
    "tpdu": "6000000000",
    "header": "603100310000",
    "mac_algorithm": "x919",         # x919 (ANSI X9.19 retail MAC); ecb (UnionPay, forgeable: an acquirer option), x99
    "connect_timeout_ms": 10000,
    "reply_timeout_ms": 30000,
    "ui_timeout_ms": 60000,
    "message_ms": 3000,               # how long a result stays up without a key
    "tear_pause_ms": 2000,            # time to tear off the merchant copy before the next prints
    "reversal_tries": 3,
    "refund_send_tries": 3,           # tries inside the refund flow before it reports "unconfirmed"
    "void_needs_card": True,
    "void_needs_pin": True,
    "refund_max_fen": 0,              # per-refund cap; 0 = no cap
    "sale_max_fen": 99999999,
    "pw_max_failures": 3,
    "pw_lockout_s": 300,
    "allow_fallback": True,           # swipe a chip card after its chip failed
    "receipt_copies": 2,
    "test_protocol": False,           # the HIL test port; off in a production build
}


class SettingsError(Exception):
    code = "SETTINGS"


class Settings:
    FILE = "settings.json"

    def __init__(self, storage=None, overrides=None):
        self._storage = storage
        self._values = dict(DEFAULTS)
        if overrides:
            self.update(overrides)

    def load(self):
        if self._storage is None:
            return self
        data = self._storage.read(self.FILE)
        if data:
            try:
                stored = json.loads(data)
            except ValueError:
                raise SettingsError("settings.json is not valid JSON")
            self.update(stored)
        return self

    def update(self, values):
        for name in values:
            if name not in DEFAULTS:
                raise SettingsError("unknown setting %r" % name)
            default = DEFAULTS[name]
            value = values[name]
            if isinstance(default, bool) and not isinstance(value, bool):
                raise SettingsError("setting %r must be true or false" % name)
            if isinstance(default, int) and not isinstance(default, bool) and not isinstance(value, int):
                raise SettingsError("setting %r must be a whole number" % name)
            self._values[name] = value

    def save(self, **changes):
        self.update(changes)
        if self._storage is not None:
            changed = {}
            for name in self._values:
                if self._values[name] != DEFAULTS[name]:
                    changed[name] = self._values[name]
            self._storage.write_atomic(self.FILE, json.dumps(changed).encode())

    def __getattr__(self, name):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(name)
