"""Acquirer host simulator: a UnionPay-style ISO 8583 host on loopback TCP,
with a SQLite ledger, fault injection and frame recording.

    from emulator.host import HostSimulator
    with HostSimulator(None) as host:          # in-memory ledger, server in a thread
        port = host.port
        ...

See emulator/host/README.md for the response codes, the settlement F48
layout and the faults. Imports are lazy: importing the package loads nothing
but this docstring until HostSimulator is asked for.
"""


def __getattr__(name):
    if name in ("HostSimulator", "DEFAULT_MASTER_KEY"):
        from emulator.host import server
        return getattr(server, name)
    if name in ("Faults", "Fault", "parse_fault_spec"):
        from emulator.host import faults
        return getattr(faults, name)
    raise AttributeError("module 'emulator.host' has no attribute %r" % (name,))
