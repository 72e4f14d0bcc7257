"""One error type for everything a flow can run into, mapped in one place to
what the merchant reads (Chinese and English, firmware/texts.py)."""


class PosError(Exception):
    """A flow ends with this; `code` names a message in texts.MESSAGES.

    `args_` fill the message's %s placeholders. No card data in either.
    """

    def __init__(self, code, *args_):
        # super(), not Exception.__init__: MicroPython's Exception type has
        # no __init__ attribute to call.
        super().__init__(code)
        self.code = code
        self.args_ = args_


class Cancelled(PosError):
    def __init__(self):
        PosError.__init__(self, "CANCELLED")


class TimedOut(PosError):
    def __init__(self):
        PosError.__init__(self, "TIMEOUT")


# Field 39 response codes -> message code. Anything else: "HOST_DECLINED".
RESPONSE_CODES = {
    "00": "APPROVED",
    "03": "RC_INVALID_MERCHANT",
    "05": "RC_DO_NOT_HONOUR",
    "12": "RC_INVALID_TXN",
    "13": "RC_INVALID_AMOUNT",
    "14": "RC_INVALID_CARD",
    "25": "RC_ORIGINAL_NOT_FOUND",
    "30": "RC_FORMAT_ERROR",
    "51": "RC_NO_FUNDS",
    "54": "RC_EXPIRED",
    "55": "RC_WRONG_PIN",
    "61": "RC_OVER_LIMIT",
    "64": "RC_ORIGINAL_AMOUNT",
    "75": "RC_PIN_TRIES",
    "94": "RC_DUPLICATE",
    "95": "RC_RECONCILE",
    "96": "RC_SYSTEM",
    "97": "RC_UNKNOWN_TERMINAL",
    "98": "RC_NO_ISSUER",
    "99": "RC_KEY_ERROR",
    "A0": "RC_KEY_ERROR",
}

# Codes after which the terminal must sign on again before going on.
SIGN_ON_AGAIN = ("99", "A0", "97")


def response_message_code(rc):
    return RESPONSE_CODES.get(rc, "HOST_DECLINED")
