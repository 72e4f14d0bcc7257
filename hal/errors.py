"""Errors raised by devices. Each has a short code the firmware maps to a
screen message; none carries card data."""


class DeviceError(Exception):
    code = "DEVICE"


class StorageError(DeviceError):
    code = "STORAGE"


class StorageFullError(StorageError):
    code = "STORAGE_FULL"


class ModemError(DeviceError):
    """The link to the host could not be opened or broke."""
    code = "MODEM"


class CardError(DeviceError):
    """The card could not be read (garbled track, mute chip)."""
    code = "CARD_READ"


class PrinterError(DeviceError):
    code = "PRINTER"


class KeyStoreError(DeviceError):
    code = "KEYSTORE"


class PrinterNotResponding(PrinterError):
    """The printer did not answer a status request (off, cable out, wrong
    baud rate): printing stops with this error instead of hanging."""
    code = "PRINTER_NO_ANSWER"
