"""Terminal settings: one table of every setting with its default and its
rule (type and range), overridden by settings.json in storage and by the
boot configuration.

A new setting is one line of SETTINGS:

    ("host_port", 5555, Whole(1, 65535)),

Its rule is checked at load and at every change, and the settings test
(tests/unit/test_settings.py) feeds it out-of-range and wrongly typed
values taken from the rule itself, so a new line is tested without a new
test. A value outside its rule is refused with a SettingsError that names
the setting and what it takes: a setting must never switch off what it
tunes (a lockout of 0 s, no reversal tries, no receipt).

Where a value comes from, each layer over the one before:
- the table's default;
- settings.json (what the merchant changed through the menus): the only
  thing save() writes;
- acquirer.json: the acquirer's parameters, downloaded at sign-on
  (firmware/termparams.py; set_acquirer() writes it). They beat the
  merchant's own settings: a no-PIN limit or an e-signature rule is the
  acquirer's risk decision, not the shop's. The whole set is replaced at
  each download;
- the boot configuration's "settings" and tests (update()): in memory for
  this run, never written (the installer's or the bench's explicit word).

Settings are plain JSON values (numbers, strings, booleans) so that the
same file works under MicroPython. An unknown name is refused, not
ignored: a typo must not silently leave a default in force.
"""

import json


class SettingsError(ValueError):
    code = "SETTINGS"


def _short(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


class Rule:
    """What a setting takes. check(value) -> None when good, else what it
    takes; bad_values() -> wrongly typed and out-of-range values, for the
    settings test."""

    def check(self, value):
        raise NotImplementedError

    def bad_values(self):
        raise NotImplementedError


class Whole(Rule):
    """A whole number in lo..hi (JSON true/false and 1.0 are not numbers here)."""

    def __init__(self, lo, hi):
        self.lo = lo
        self.hi = hi

    def check(self, value):
        if not _is_whole(value) or value < self.lo or value > self.hi:
            return "a whole number %d..%d" % (self.lo, self.hi)

    def bad_values(self):
        return [self.lo - 1, self.hi + 1, -1 if self.lo >= 0 else self.hi * 2, float(self.lo), str(self.lo),
                True, None, [self.lo]]


class Flag(Rule):
    def check(self, value):
        if not isinstance(value, bool):
            return "true or false"

    def bad_values(self):
        return [0, 1, "true", "false", None, [], {}]


class Choice(Rule):
    def __init__(self, *values):
        self.values = values

    def check(self, value):
        if not isinstance(value, str) or value not in self.values:
            return "one of " + ", ".join(self.values)

    def bad_values(self):
        bad = ["none", "", self.values[0].upper(), self.values[0] + " ", 0, None, [self.values[0]]]
        return [value for value in bad if value not in self.values]


class Text(Rule):
    """A string of lo..hi characters, all in `chars` when given (else any
    printable character, no control characters: they would reach the
    screen, the receipt and ISO 8583 fields)."""

    def __init__(self, lo, hi, chars=None, prefix=""):
        self.lo = lo
        self.hi = hi
        self.chars = chars
        self.prefix = prefix

    def what(self):
        if self.lo == self.hi:
            size = "%d" % self.lo
        else:
            size = "%d-%d" % (self.lo, self.hi)
        kind = "characters"
        if self.chars == DIGITS:
            kind = "digits"
        elif self.chars == HEX_DIGITS:
            kind = "hex digits"
        return "%s %s%s" % (size, kind, (" starting " + self.prefix) if self.prefix else "")

    def check(self, value):
        if not isinstance(value, str) or not self.lo <= len(value) <= self.hi:
            return self.what()
        for ch in value:
            if (self.chars is not None and ch not in self.chars) or ord(ch) < 32 or ord(ch) == 127:
                return self.what()
        if not value.startswith(self.prefix):
            return self.what()

    def bad_values(self):
        bad = [self.prefix + "x" * self.hi + "x", 5, None, True, [self.prefix]]
        if self.lo > 0:
            bad.append("")
        if self.lo > 1 + len(self.prefix):
            bad.append(self.prefix + "0")
        good = self.prefix + "0" * (self.lo - len(self.prefix))
        if self.chars is not None:
            bad.append(good[:-1] + "!" if self.lo > len(self.prefix) else "!")
        bad.append(good[:-1] + "\n" if self.lo > len(self.prefix) else "\n")
        if self.prefix:
            bad.append("1" * self.lo)
        return bad


class OrEmpty(Rule):
    """"" (the feature is off) or a value `inner` takes."""

    def __init__(self, inner):
        self.inner = inner

    def check(self, value):
        if value == "":
            return None
        why = self.inner.check(value)
        if why is not None:
            return '"" or ' + why

    def bad_values(self):
        return [value for value in self.inner.bad_values() if value != ""]


DIGITS = "0123456789"
HEX_DIGITS = "0123456789abcdefABCDEF"
ALNUM = DIGITS + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
HOST_CHARS = ALNUM + ".-:_"

# name, default, rule: one line a setting. Ranges are what a terminal in
# service may use; a value outside would switch off what the setting tunes.
SETTINGS = (
    ("lang", "zh", Choice("zh", "en")),
    ("merchant_name", "测试商户 TEST SHOP", Text(1, 40)),
    ("merchant_id", "898100012340001", Text(15, 15, ALNUM)),        # F42, ans 15
    ("terminal_id", "10000001", Text(8, 8, ALNUM)),                  # F41, ans 8
    ("host_address", "127.0.0.1", Text(1, 253, HOST_CHARS)),
    ("host_port", 5555, Whole(1, 65535)),
    ("tpdu", "6000000000", Text(10, 10, HEX_DIGITS, prefix="60")),   # 5 bytes, first 0x60
    ("header", "603100310000", Text(12, 12, HEX_DIGITS)),            # 6 bytes
    ("mac_algorithm", "x919", Choice("x919", "ecb", "x99")),   # X9.19; ecb (UnionPay, forgeable): an acquirer option
    ("connect_timeout_ms", 10000, Whole(1000, 120000)),
    ("reply_timeout_ms", 30000, Whole(1000, 180000)),
    ("ui_timeout_ms", 60000, Whole(5000, 600000)),
    ("message_ms", 3000, Whole(1, 60000)),              # how long a result stays up without a key
    ("tear_pause_ms", 2000, Whole(0, 30000)),           # time to tear off the merchant copy
    ("reversal_tries", 3, Whole(1, 10)),
    ("refund_send_tries", 3, Whole(1, 10)),             # tries in the refund flow before "unconfirmed"
    ("void_needs_card", True, Flag()),
    ("void_needs_pin", True, Flag()),
    ("refund_max_fen", 0, Whole(0, 999999999999)),      # per-refund cap; 0 = no cap (F4: 12 digits)
    ("sale_max_fen", 99999999, Whole(1, 999999999999)),
    ("pw_max_failures", 3, Whole(3, 10)),               # wrong passwords before a lockout
    ("pw_lockout_s", 300, Whole(60, 3600)),
    ("allow_fallback", True, Flag()),                   # swipe a chip card after its chip failed
    ("receipt_copies", 2, Whole(1, 2)),
    ("qr_poll_ms", 3000, Whole(100, 10000)),             # how often a QR order being paid is queried
    ("qr_wait_ms", 45000, Whole(1000, 120000)),          # then it is cancelled (wallets give up near 45-60 s)
    # 小额双免 (QuickPass): a contactless sale at or below these needs no PIN / no
    # signature; 1000.00 yuan is UnionPay's default since 2018-06-01 (flows/common.quick_pass).
    # At most the scheme's 1000.00 yuan: neither the merchant nor a parameter
    # download (forgeable under the ECB MAC option) can raise it past that.
    ("qps_no_pin_limit_fen", 100000, Whole(0, 100000)),
    ("qps_no_signature_limit_fen", 100000, Whole(0, 100000)),
    # 电签 (paperless handset, docs/ESIGN.md): the cardholder signs on the touch
    # screen after an approved sale; after a void / refund only where the acquirer
    # asks (esign_void / esign_refund, also set by the sign-on parameter download).
    ("esign", False, Flag()),
    ("esign_void", False, Flag()),
    ("esign_refund", False, Flag()),
    ("esign_timeout_ms", 120000, Whole(10000, 600000)),  # no signature by then: a paper slip to sign
    ("esign_packet_bytes", 400, Whole(64, 500)),         # F62 image bytes a packet (F62 is b..512)
    ("esign_upload_tries", 3, Whole(1, 10)),             # failed upload rounds, then a paper slip to sign
    # Paper: normal (both copies), merchant_only (the cardholder gets the QR
    # e-receipt), none (no slip: the receipt goes up with the signature; QR on screen).
    ("paper", "normal", Choice("normal", "merchant_only", "none")),
    ("ereceipt_url", "http://127.0.0.1:8600/receipt", Text(8, 120)),  # the host's e-receipt page the QR links to
    # Merchant discount rates (firmware/fees.py): basis points (0.50 % = 50), caps in fen (0: none).
    ("fee_debit_bp", 50, Whole(0, 1000)),
    ("fee_debit_cap_fen", 2000, Whole(0, 100000000)),
    ("fee_credit_bp", 60, Whole(0, 1000)),
    ("fee_qr_bp", 38, Whole(0, 1000)),
    ("receipt_qr", True, Flag()),                       # the printer prints QR codes (ESC/POS GS ( k)
    ("test_protocol", False, Flag()),                   # the HIL test port; off in a production build
    ("test_keys", False, Flag()),                       # sign on with the public test master key (emulator)
    ("track_encryption", True, Flag()),                 # 60.3 = 004: a track data key, F35/F36 encrypted
    ("key_algorithm", "3des", Choice("3des", "sm4")),   # sm4 (国密) where the acquirer issues SM4 keys
    ("host_tls", "", OrEmpty(Text(2, 255, prefix="/"))),  # TLS trusting this PEM (acquirer CA or host cert)
    ("host_tls_pin", "", OrEmpty(Text(64, 64, HEX_DIGITS))),  # SHA-256 of the host's certificate
    ("allow_volatile_storage", False, Flag()),          # EMULATOR ONLY: take payments on storage that cannot fsync
)


def names():
    return [entry[0] for entry in SETTINGS]


def defaults():
    return dict((name, default) for name, default, _ in SETTINGS)


def rule(name):
    for entry in SETTINGS:
        if entry[0] == name:
            return entry[2]
    return None


def check(name, value):
    """Raise SettingsError unless `value` is good for setting `name`."""
    found = rule(name)
    if found is None:
        raise SettingsError("unknown setting %r" % name)
    why = found.check(value)
    if why is not None:
        raise SettingsError("setting %r must be %s, not %s" % (name, why, _short(value)))


def _check_all(values):
    if not isinstance(values, dict):
        raise SettingsError("settings must be an object of name: value, not %s" % _short(values))
    for name in values:
        check(name, values[name])


def _check_acquirer(values):
    """The acquirer's layer holds only what a parameter download can set
    (firmware/termparams.py TAGS): never a setting that guards the terminal
    (test_keys, mac_algorithm...), whoever calls or whatever acquirer.json holds."""
    _check_all(values)
    from firmware.termparams import setting_names   # termparams imports this module
    allowed = setting_names()
    for name in values:
        if name not in allowed:
            raise SettingsError("setting %r is not an acquirer parameter" % name)


class Settings:
    FILE = "settings.json"
    ACQUIRER_FILE = "acquirer.json"

    def __init__(self, storage=None, overrides=None):
        self._storage = storage
        self._values = defaults()
        self._saved = {}      # what settings.json holds: the merchant's own changes
        self._acquirer = {}   # what acquirer.json holds: the last parameter download
        self._run = {}        # the boot configuration's and the tests': this run only
        # Why acquirer.json was not used at load (None: it was, or there is none).
        self.acquirer_problem = None
        if overrides:
            self.update(overrides)

    def _layer(self):
        values = defaults()
        for layer in (self._saved, self._acquirer, self._run):
            values.update(layer)
        self._values = values

    def load(self):
        """Apply settings.json and acquirer.json. Anything wrong with
        settings.json is a SettingsError starting "settings.json:", which
        stops the boot with that message."""
        if self._storage is None:
            return self
        self._load_acquirer()
        data = self._storage.read(self.FILE)
        if data is None:
            self._layer()
            return self
        try:
            stored = json.loads(data)
        except ValueError:
            raise SettingsError("%s: not valid JSON" % self.FILE)
        if not isinstance(stored, dict):
            raise SettingsError("%s: not an object of name: value, but %s" % (self.FILE, _short(stored)))
        try:
            _check_all(stored)
        except SettingsError as e:
            raise SettingsError("%s: %s" % (self.FILE, e))
        self._saved = dict(stored)
        self._layer()
        return self

    def _load_acquirer(self):
        """acquirer.json, if good. A damaged one does not stop the boot (the
        merchant's settings are whole): it is left out, acquirer_problem
        says why, and the next sign-on downloads the parameters again."""
        data = self._storage.read(self.ACQUIRER_FILE)
        if data is None:
            return
        try:
            stored = json.loads(data)
            if not isinstance(stored, dict):
                raise SettingsError("not an object of name: value")
            _check_acquirer(stored)
        except (ValueError, SettingsError) as e:
            self.acquirer_problem = "%s: %s" % (self.ACQUIRER_FILE, e)
            return
        self._acquirer = stored

    def set_acquirer(self, values):
        """The acquirer's parameters of a download: every one checked
        against the table first (one bad value refuses them all, the old
        ones stay), then acquirer.json is replaced atomically, then they
        apply. A StorageError leaves the old ones in force."""
        _check_acquirer(values)
        if self._storage is not None:
            self._storage.write_atomic(self.ACQUIRER_FILE, json.dumps(values).encode())
        self._acquirer = dict(values)
        self._layer()

    def acquirer(self):
        """The acquirer's parameters in force (a copy)."""
        return dict(self._acquirer)

    def update(self, values):
        """Change settings for this run only (boot configuration, tests).
        Every value is checked before any is applied."""
        _check_all(values)
        self._run.update(values)
        self._layer()

    def save(self, **changes):
        """The merchant's changes: written to settings.json, with the earlier
        ones, and in force at once over what the boot configuration set for
        this run (nothing of which is written); an acquirer's parameter
        still beats them."""
        _check_all(changes)
        saved = dict(self._saved)
        saved.update(changes)
        if self._storage is not None:
            self._storage.write_atomic(self.FILE, json.dumps(saved).encode())
        self._saved = saved
        for name in changes:
            self._run.pop(name, None)
        self._layer()

    def __getattr__(self, name):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(name)
