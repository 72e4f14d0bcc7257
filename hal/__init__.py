"""Hardware abstraction: one interface per device, backends chosen by address.

    open_device("printer", "sim:")                      -> hal.sim.printer.SimPrinter
    open_device("printer", "escpos:/dev/ttyS1?baud=115200")

The scheme picks a module (imported only then) and the part after the colon
plus the query string become the backend's explicit constructor arguments.
An unknown scheme, a backend that cannot load, or an unknown option is an
error that names it (the way pyserial's serial_for_url() works).
"""

from hal.errors import DeviceError

# (device kind, scheme) -> (module, class). Linux drivers are added here by
# their own issue; nothing is imported until open_device() asks for it.
BACKENDS = {
    ("keypad", "sim"): ("hal.sim.keypad", "SimKeypad"),
    ("card_reader", "sim"): ("hal.sim.card_reader", "SimCardReader"),
    ("printer", "sim"): ("hal.sim.printer", "SimPrinter"),
    ("printer", "none"): ("hal.printer", "NoPrinter"),   # no printer (setting paper none)
    ("modem", "sim"): ("hal.sim.modem", "SimModem"),
    ("display", "sim"): ("hal.sim.display", "SimDisplay"),
    ("clock", "sim"): ("hal.sim.clock", "SimClock"),
    ("storage", "dir"): ("hal.storage", "DirStorage"),
    ("keystore", "sim"): ("hal.sim.keystore", "SimKeyStore"),
    ("keystore", "file"): ("hal.linux.keystore", "FileKeyStore"),
    ("scanner", "sim"): ("hal.sim.scanner", "SimScanner"),
    ("scanner", "scanner"): ("hal.linux.scanner", "SerialScanner"),
    ("scanner", "wedge"): ("hal.linux.scanner", "WedgeScanner"),
    # Linux drivers (docs/DRIVERS.md)
    ("printer", "escpos"): ("hal.linux.escpos", "EscPosPrinter"),
    ("modem", "at"): ("hal.linux.at", "AtModem"),
    ("card_reader", "reader"): ("hal.linux.reader", "SerialCardReader"),
    ("keypad", "evdev"): ("hal.linux.evdev", "EvdevKeypad"),
    ("touch", "sim"): ("hal.sim.touch", "SimTouch"),
    ("touch", "evdev"): ("hal.linux.evdev", "EvdevTouch"),
    ("display", "fb"): ("hal.linux.fbdev", "FbDisplay"),
    ("clock", "system"): ("hal.linux.clock", "SystemClock"),
}


def parse_address(address):
    """'escpos:/dev/ttyS1?baud=115200&x=1' -> ('escpos', '/dev/ttyS1', {'baud': '115200', 'x': '1'})"""
    if ":" not in address:
        raise DeviceError("device address %r has no scheme (like sim: or dir:/path)" % address)
    scheme, rest = address.split(":", 1)
    options = {}
    if "?" in rest:
        rest, query = rest.split("?", 1)
        for pair in query.split("&"):
            if not pair:
                continue
            if "=" not in pair:
                raise DeviceError("option %r in %r has no value" % (pair, address))
            name, value = pair.split("=", 1)
            options[name] = value
    return scheme, rest, options


def open_device(kind, address, **extra):
    """Create the device of `kind` that `address` names.

    `extra` are keyword arguments the caller adds (a storage object for the
    key store, say); options from the address's query string are passed
    as strings and each backend converts and checks its own.
    """
    scheme, path, options = parse_address(address)
    entry = BACKENDS.get((kind, scheme))
    if entry is None:
        known = sorted(s for (k, s) in BACKENDS if k == kind)
        raise DeviceError("no %s backend for scheme %r (known: %s)" % (kind, scheme, ", ".join(known)))
    module_name, class_name = entry
    try:
        module = __import__(module_name, None, None, [class_name])
    except ImportError as e:
        raise DeviceError("%s backend %r cannot load: module %s: %s" % (kind, scheme, module_name, e))
    cls = getattr(module, class_name)
    options.update(extra)
    try:
        return cls.from_address(path, **options)
    except TypeError as e:
        raise DeviceError("%s backend %r: bad option in %r: %s" % (kind, scheme, address, e))
