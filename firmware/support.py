"""The support export: what a service engineer needs from a terminal that
says "service needed", gathered into one file on the data partition
(`support.dat`), to be pulled off the handset.

The file is a sequence of sections, each

    == <name> <length> ==\n <length bytes>\n

first `status` (version, batch, last trace, the service problems), then
the journal and its side files (torn tails, quarantined records) as they
are on the disk. Nothing in them is a clear card number: the journal never
holds one (the PAN is sealed by the key store). Files are copied in chunks,
so a large journal never has to fit in RAM.
"""

import json

EXPORT_NAME = "support.dat"
CHUNK = 16 * 1024


def status_text(app):
    from firmware.app import VERSION
    state = app.state
    return json.dumps({"version": VERSION, "terminal": app.settings.terminal_id,
                       "batch": state.batch, "last_trace": state.last_trace,
                       "service": [[p[0], p[1] if isinstance(p[1], str) else list(p[1])]
                                   for p in app.service_problems],
                       "journal_problems": state.problems,
                       "journal_broken": app.journal.broken}).encode()


def export(app):
    """Write support.dat. -> its size in bytes. Raises StorageError."""
    storage = app.devices.storage
    storage.remove(EXPORT_NAME)
    _section(storage, "status", status_text(app))
    for name in app.journal.file_names():
        size = storage.size(name)
        if not size:
            continue
        storage.append(EXPORT_NAME, ("== %s %d ==\n" % (name, size)).encode())
        offset = 0
        while offset < size:
            chunk = storage.read_at(name, offset, min(CHUNK, size - offset))
            if not chunk:
                break  # the file shrank under us: what was read stands
            storage.append(EXPORT_NAME, chunk)
            offset += len(chunk)
        storage.append(EXPORT_NAME, b"\n")
    return storage.size(EXPORT_NAME)


def _section(storage, name, data):
    storage.append(EXPORT_NAME, ("== %s %d ==\n" % (name, len(data))).encode() + data + b"\n")
