"""Supervisor and operator passwords.

Supervisor 00: 6 digits, factory 123456. Operators 01..99: 4 digits,
factory 0000. A factory password works once: its first use is followed by
the forced change (supervisor and operators alike). New passwords that are
trivial (all one digit, a run up or down, a factory value) are refused.

Kept in operators.json (atomic replace) as salted, iterated SHA-256 hashes
with their iteration count, then keyed (HMAC-SHA256) under a password key
that lives in the key store, apart from the data directory: operators.json
alone lets no one check a guess offline. A hash made with fewer rounds, or
not keyed (older files), still verifies and is made again the current way
at its next success. A password never reaches a log or the journal.

The lockout. After `pw_max_failures` wrong tries in a row an account is
locked for `pw_lockout_s` seconds on the wall clock (both fixed ranges in
firmware/settings.py). Each try is counted on disk BEFORE the password is
compared, and a success clears the count: a power cut during the slow
comparison leaves the try counted, never forgotten.

A damaged operators.json, or a missing one on a terminal whose passwords
were set up before, never brings the factory passwords back: every account
stays locked and the idle screen says "service needed". The key store
keeps the mark that tells a missing file from a terminal fresh from the
factory (SETUP_MARK): it lives apart from the data directory and is gone
after a key injection. Only that, or the service reset on the bench
(firmware/service.py, which also wipes the card data), brings the factory
passwords back.
"""

import json

from hal.compat import hexlify, hmac_sha256, sha256, unhexlify, urandom
from hal.errors import DeviceError, StorageError
from firmware.errors import PosError

SUPERVISOR = "00"
FACTORY = {"supervisor": "123456", "operator": "0000"}
# Rounds of the salted hash: a guess costs at least 100 ms under MicroPython
# on a desktop x86 (9.5-12 us a round, bench/password_cost.py), and more on
# the handset's slower ARM. Stored with each hash, so it can grow.
HASH_ROUNDS = 12000
LEGACY_ROUNDS = 2000          # hashes written before the count was stored with them
MAX_ROUNDS = 10 * HASH_ROUNDS  # more in the file is damage (each check would hang the terminal)
SETUP_MARK = "passwords"      # in the key store: operators.json has existed on this terminal
# The password key is derived in the key store from its journal key with
# this label (HMAC as a PRF, a label no journal frame can be: every frame
# starts with the previous record's MAC, never 16 bytes of 0xFF), so every
# backend that gives journal_mac() gives it too and the key never leaves.
PASSWORD_KEY_LABEL = b"\xff" * 16 + b"operators.json password key v1"


def password_length(operator_id):
    return 6 if operator_id == SUPERVISOR else 4


def factory_password(operator_id):
    return FACTORY["supervisor"] if operator_id == SUPERVISOR else FACTORY["operator"]


def hash_password(password, salt, rounds=HASH_ROUNDS):
    digest = salt + password.encode()
    for _ in range(rounds):
        digest = sha256(digest + salt)
    return digest


def is_trivial(password):
    """All one digit, a run up or down (wrapping 9-0: 789012), or a factory
    password: the first guesses anyone tries."""
    if password in FACTORY.values():
        return True
    digits = [ord(ch) - 48 for ch in password]
    for step in (0, 1, 9):   # 9 = one down, modulo 10
        if all((digits[i + 1] - digits[i]) % 10 == step for i in range(len(digits) - 1)):
            return True
    return False


def seconds_since_2000(t):
    """(Y, M, D, h, m, s) -> seconds since 2000-01-01, no time module needed."""
    year, month, day, hour, minute, second = t[:6]
    # days from civil (Howard Hinnant's algorithm), shifted to 2000-01-01
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 730425   # 719468 to 1970-01-01, then 10957 days to 2000
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def valid_operator_id(operator_id):
    return len(operator_id) == 2 and operator_id.isdigit()


def _int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(value):
    return _int(value) and value >= 0


def _hex(value, length):
    if not isinstance(value, str) or len(value) != length:
        return False
    for ch in value:
        if ch not in "0123456789abcdef":
            return False
    return True


def account_problem(operator_id, account):
    """Why a stored account cannot be trusted, or None. Anything the
    firmware did not write is damage, never a default."""
    if not valid_operator_id(operator_id) or not isinstance(account, dict):
        return "account %r" % operator_id
    for name in account:
        if name not in ("salt", "hash", "rounds", "keyed", "factory", "failures", "locked_until"):
            return "account %s: %r" % (operator_id, name)
    # locked_until may be negative: a clock reset to 1970 is before 2000
    if not _whole(account.get("failures", 0)) or not _int(account.get("locked_until", 0)):
        return "account %s: counters" % operator_id
    if not isinstance(account.get("factory", False), bool) or not isinstance(account.get("keyed", False), bool):
        return "account %s: factory" % operator_id
    if "hash" in account or "salt" in account:
        rounds = account.get("rounds", LEGACY_ROUNDS)
        if not (_hex(account.get("salt"), 16) and _hex(account.get("hash"), 64) and _whole(rounds)
                and 0 < rounds <= MAX_ROUNDS):
            return "account %s: hash" % operator_id
    elif not account.get("factory"):
        return "account %s: no password" % operator_id
    return None


def parse_accounts(data):
    """operators.json -> {operator_id: account}; ValueError says what is wrong."""
    try:
        accounts = json.loads(data)
    except ValueError:
        raise ValueError("not valid JSON")
    if not isinstance(accounts, dict):
        raise ValueError("not an object")
    if SUPERVISOR not in accounts:
        # every file the firmware writes holds it (_save)
        raise ValueError("no supervisor account")
    for operator_id in accounts:
        problem = account_problem(operator_id, accounts[operator_id])
        if problem:
            raise ValueError(problem)
    return accounts


class Operators:
    FILE = "operators.json"

    def __init__(self, storage, clock, settings, keystore):
        self._storage = storage
        self._clock = clock
        self._settings = settings        # pw_max_failures, pw_lockout_s: read at each try
        self._keystore = keystore
        self._accounts = None
        self.damaged = None              # why every account is locked until a service, or None

    # -- the file -------------------------------------------------------------

    def load(self):
        """Read operators.json (once). -> self; `damaged` says when it
        cannot be trusted."""
        if self._accounts is not None:
            return self
        try:
            data = self._storage.read(self.FILE)
        except StorageError as e:
            return self._damage("cannot be read: %s" % e)
        try:
            marked = self._keystore.has_mark(SETUP_MARK)
        except DeviceError as e:
            # Without the key store nothing tells a deleted file from a new
            # terminal, and no hash can be checked: locked, on the safe side.
            return self._damage("cannot be checked: key store: %s" % e)
        if data is None:
            if marked:
                # Passwords were set up here, and now there is no file: a
                # deletion, not a new terminal. The factory passwords must
                # not come back (they would unlock every void and refund).
                return self._damage("missing")
            self._accounts = {}
            return self
        try:
            self._accounts = parse_accounts(data)
        except ValueError as e:
            return self._damage("damaged: %s" % e)
        if not marked:
            self._keystore.set_mark(SETUP_MARK)  # a key store new since the file was written
        return self

    def _damage(self, why):
        self.damaged = "%s %s" % (self.FILE, why)
        self._accounts = {}
        return self

    def _account(self, operator_id):
        account = self.load()._accounts.get(operator_id)
        if account is None:
            return {"factory": True, "failures": 0, "locked_until": 0}
        return account

    def _save(self, operator_id, account):
        """Write the file with this account changed, then adopt it: a failed
        write (full disk) leaves the file and this object as they were. The
        key store mark follows the file, never precedes it (a power cut in
        between must not leave a fresh terminal asking for service)."""
        accounts = dict(self.load()._accounts)
        if SUPERVISOR not in accounts:
            accounts[SUPERVISOR] = self._account(SUPERVISOR)
        accounts[operator_id] = account
        self._storage.write_atomic(self.FILE, json.dumps(accounts).encode())
        self._accounts = accounts
        if not self._keystore.has_mark(SETUP_MARK):
            self._keystore.set_mark(SETUP_MARK)

    def _now(self):
        return seconds_since_2000(self._clock.now())

    # -- checks ---------------------------------------------------------------

    def locked_for(self, operator_id):
        """Seconds left of a lockout, 0 if none. A lockout never lasts longer
        than `pw_lockout_s` from now: a clock that went back (a flat RTC
        battery back at 2000-01-01) must not lock the shop out for years.
        Such a lockout starts again from now, on disk."""
        account = self._account(operator_id)
        left = account.get("locked_until", 0) - self._now()
        longest = self._settings.pw_lockout_s
        if left > longest and not self.damaged:
            account = dict(account)
            account["locked_until"] = self._now() + longest
            self._save(operator_id, account)
            left = longest
        return left if left > 0 else 0

    def refuse_if_closed(self, operator_id):
        """Raise PosError if this account cannot be tried now: no such
        operator, passwords needing service, or a lockout running."""
        if not valid_operator_id(operator_id):
            raise PosError("NO_SUCH_OPERATOR")
        if self.load().damaged:
            raise PosError("PW_SERVICE")
        left = self.locked_for(operator_id)
        if left:
            raise PosError("LOCKED", (left + 59) // 60)

    def check(self, operator_id, password):
        """Raise PosError unless the password is right. The try is counted
        on disk before the comparison; a success clears the count."""
        self.refuse_if_closed(operator_id)
        account = self._account(operator_id)
        max_failures = self._settings.pw_max_failures
        failures = account.get("failures", 0) + 1
        counted = dict(account)
        if failures >= max_failures:
            counted["failures"] = 0
            counted["locked_until"] = self._now() + self._settings.pw_lockout_s
        else:
            counted["failures"] = failures
        self._save(operator_id, counted)
        # From here on the try is counted: a power cut during the hash below
        # cannot take it back.
        if self._verify(operator_id, account, password):
            cleared = dict(account)
            cleared["failures"] = 0
            cleared["locked_until"] = 0
            if "hash" in account and (account.get("rounds", LEGACY_ROUNDS) < HASH_ROUNDS
                                      or not account.get("keyed")):
                # An older hash (cheaper, or not keyed): made again today's way.
                cleared.update(self._hashed(password))
            self._save(operator_id, cleared)
            return
        if failures >= max_failures:
            raise PosError("LOCKED", (self._settings.pw_lockout_s + 59) // 60)
        raise PosError("WRONG_PW", max_failures - failures)

    def _verify(self, operator_id, account, password):
        if "hash" in account:
            salt = unhexlify(account["salt"])
            digest = hash_password(password, salt, account.get("rounds", LEGACY_ROUNDS))
            if account.get("keyed"):
                digest = hmac_sha256(self._password_key(), digest)
            return hexlify(digest) == account["hash"]
        # A factory account has no hash: its password is public. The same
        # work is done anyway, so a guess costs the same on every account.
        hash_password(password, b"\x00" * 8)
        return password == factory_password(operator_id)

    def is_factory(self, operator_id):
        return not self.load().damaged and self._account(operator_id).get("factory", False)

    # -- changes --------------------------------------------------------------

    def refuse_weak(self, operator_id, password):
        """Raise PosError unless `password` may become this account's."""
        length = password_length(operator_id)
        if len(password) != length or not password.isdigit():
            raise PosError("PW_FORMAT", length)
        if password in FACTORY.values():
            raise PosError("PW_FACTORY")
        if is_trivial(password):
            raise PosError("PW_TRIVIAL")

    def _hashed(self, password):
        salt = urandom(8)
        digest = hmac_sha256(self._password_key(), hash_password(password, salt))
        return {"salt": hexlify(salt), "hash": hexlify(digest), "rounds": HASH_ROUNDS, "keyed": True}

    def _password_key(self):
        return self._keystore.journal_mac(PASSWORD_KEY_LABEL)

    def change(self, operator_id, new_password):
        if not valid_operator_id(operator_id):
            raise PosError("NO_SUCH_OPERATOR")
        if self.load().damaged:
            raise PosError("PW_SERVICE")
        self.refuse_weak(operator_id, new_password)
        account = dict(self._account(operator_id))
        account.update(self._hashed(new_password))
        account.update({"factory": False, "failures": 0, "locked_until": 0})
        self._save(operator_id, account)
