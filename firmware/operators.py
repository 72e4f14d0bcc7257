"""Supervisor and operator passwords.

Supervisor 00: 6 digits, factory 123456. Operators 01..99: 4 digits,
factory 0000. Passwords are kept as salted, iterated SHA-256 hashes in
operators.json (atomic replace); a password never reaches a log or the
journal. After `pw_max_failures` wrong tries in a row an account is locked
for `pw_lockout_s` seconds, counted on the wall clock and kept across a
reboot (switching the handset off does not reset the count). A factory
password must be changed before the first void or refund.
"""

import json

from hal.compat import hexlify, sha256, unhexlify, urandom
from firmware.errors import PosError

SUPERVISOR = "00"
FACTORY = {"supervisor": "123456", "operator": "0000"}
HASH_ROUNDS = 2000


def password_length(operator_id):
    return 6 if operator_id == SUPERVISOR else 4


def factory_password(operator_id):
    return FACTORY["supervisor"] if operator_id == SUPERVISOR else FACTORY["operator"]


def hash_password(password, salt):
    digest = salt + password.encode()
    for _ in range(HASH_ROUNDS):
        digest = sha256(digest + salt)
    return digest


def seconds_since_2000(t):
    """(Y, M, D, h, m, s) -> seconds since 2000-01-01, no time module needed."""
    year, month, day, hour, minute, second = t[:6]
    # days from civil (Howard Hinnant's algorithm), shifted to 2000-01-01
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 730485
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def valid_operator_id(operator_id):
    return len(operator_id) == 2 and operator_id.isdigit()


class Operators:
    FILE = "operators.json"

    def __init__(self, storage, clock, max_failures=3, lockout_s=300):
        self._storage = storage
        self._clock = clock
        self._max_failures = max_failures
        self._lockout_s = lockout_s
        self._accounts = None

    def _load(self):
        if self._accounts is None:
            data = self._storage.read(self.FILE)
            try:
                self._accounts = json.loads(data) if data else {}
            except ValueError:
                # A damaged file must not lock the shop out for ever nor
                # silently open it: fall back to factory passwords, which
                # must be changed before any void or refund.
                self._accounts = {}
        return self._accounts

    def _account(self, operator_id):
        accounts = self._load()
        account = accounts.get(operator_id)
        if account is None:
            salt = urandom(8)
            account = {"salt": hexlify(salt),
                       "hash": hexlify(hash_password(factory_password(operator_id), salt)),
                       "factory": True, "failures": 0, "locked_until": 0}
        return account

    def _save(self, operator_id, account):
        accounts = self._load()
        accounts[operator_id] = account
        self._storage.write_atomic(self.FILE, json.dumps(accounts).encode())

    def locked_for(self, operator_id):
        """Seconds left of a lockout, 0 if none."""
        account = self._account(operator_id)
        left = account.get("locked_until", 0) - seconds_since_2000(self._clock.now())
        return left if left > 0 else 0

    def check(self, operator_id, password):
        """Raise PosError unless the password is right. Counts failures."""
        if not valid_operator_id(operator_id):
            raise PosError("NO_SUCH_OPERATOR")
        left = self.locked_for(operator_id)
        if left:
            raise PosError("LOCKED", (left + 59) // 60)
        account = self._account(operator_id)
        salt = unhexlify(account["salt"])
        if hexlify(hash_password(password, salt)) == account["hash"]:
            if account.get("failures"):
                account["failures"] = 0
                self._save(operator_id, account)
            return
        account["failures"] = account.get("failures", 0) + 1
        if account["failures"] >= self._max_failures:
            account["failures"] = 0
            account["locked_until"] = seconds_since_2000(self._clock.now()) + self._lockout_s
            self._save(operator_id, account)
            raise PosError("LOCKED", (self._lockout_s + 59) // 60)
        self._save(operator_id, account)
        raise PosError("WRONG_PW", self._max_failures - account["failures"])

    def is_factory(self, operator_id):
        return self._account(operator_id).get("factory", False)

    def change(self, operator_id, new_password):
        length = password_length(operator_id)
        if len(new_password) != length or not new_password.isdigit():
            raise PosError("PW_FORMAT", length)
        if new_password == factory_password(operator_id):
            raise PosError("PW_FACTORY")
        salt = urandom(8)
        account = self._account(operator_id)
        account.update({"salt": hexlify(salt), "hash": hexlify(hash_password(new_password, salt)),
                        "factory": False, "failures": 0, "locked_until": 0})
        self._save(operator_id, account)
