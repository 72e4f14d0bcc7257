"""The terminal's service term (续费): the acquirer (or the handset's
provider) sells the service by the year and says in the sign-on reply when
it ends (F59 tag A9, YYYYMMDD; docs/QR.md lists the tags). The terminal
keeps that date in `service.json` and

- from WARN_DAYS before the date, shows "Service expires on YYYY-MM-DD" on
  the idle screen;
- after it, refuses new sales (cards and QR) with the date and what to do;
  refunds, voids, reprints and settlement still work: a merchant must
  always be able to give money back and close the day.

No date at all (a host that does not send one) means no term: nothing is
refused.
"""

import json

FILE = "service.json"
WARN_DAYS = 30


def day_number(year, month, day):
    """Days since 0000-03-01 of a Gregorian date (no datetime in MicroPython)."""
    if month <= 2:
        year -= 1
        month += 12
    return 365 * year + year // 4 - year // 100 + year // 400 + (153 * (month - 3) + 2) // 5 + day - 1


def parse_date(text):
    """'YYYYMMDD' -> (y, m, d), or None when it is not a date."""
    if not isinstance(text, str) or len(text) != 8 or text.strip("0123456789"):
        return None
    y, m, d = int(text[0:4]), int(text[4:6]), int(text[6:8])
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return None
    return y, m, d


def shown(text):
    return "%s-%s-%s" % (text[0:4], text[4:6], text[6:8])


class ServiceTerm:
    def __init__(self, storage):
        self._storage = storage
        self.expires = None        # 'YYYYMMDD' or None
        data = storage.read(FILE)
        if data:
            try:
                expires = json.loads(data).get("expires")
            except (ValueError, AttributeError):
                expires = None     # a damaged file: the next sign-on writes it again
            if parse_date(expires):
                self.expires = expires

    def update(self, expires):
        """A date from the host (None: the host sent none; the old one stays)."""
        if expires is None or not parse_date(expires) or expires == self.expires:
            return
        self._storage.write_atomic(FILE, json.dumps({"expires": expires}).encode())
        self.expires = expires

    def days_left(self, now):
        """Days from `now` (clock tuple) to the end of the term; negative
        once it has passed; None without a term."""
        if self.expires is None:
            return None
        return day_number(*parse_date(self.expires)) - day_number(now[0], now[1], now[2])

    def idle_line(self, now):
        left = self.days_left(now)
        if left is None or left > WARN_DAYS:
            return None
        if left < 0:
            return ("SERVICE_EXPIRED", shown(self.expires))
        return ("SERVICE_EXPIRES", shown(self.expires))

    def expired(self, now):
        left = self.days_left(now)
        return left is not None and left < 0
