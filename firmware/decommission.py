"""Device return (退机): the terminal leaves the merchant, settled, owing
nothing, its keys and data gone.

    settle -> send what is owed -> decommission slip -> host confirms -> wipe

Each stage is written to DECOMMISSION_FILE before the next begins. Until
the host has confirmed, a power cut leaves a working terminal (the merchant
runs the decommission again). Once it has confirmed, the wipe must finish:
at boot, a terminal whose file says "confirmed" or "wiping" completes the
wipe before anything else (resume_at_boot), so a power cut never leaves
half the keys or half the card data. The file itself goes last.
"""

import json

from firmware.journal import Journal
from firmware.operators import Operators
from firmware.renewal import FILE as SERVICE_TERM_FILE
from firmware.settings import Settings
from firmware.support import EXPORT_NAME
from firmware.terminal import TRACE_MARK

DECOMMISSION_FILE = "decommission.json"
STAGES = ("started", "settled", "cleared", "slip", "confirmed", "wiping")
WIPE_AT_BOOT = ("confirmed", "wiping")


def stage(storage):
    raw = storage.read(DECOMMISSION_FILE)
    if not raw:
        return None
    try:
        value = json.loads(raw).get("stage")
    except (ValueError, AttributeError):
        value = None
    # A file that cannot be read was torn by a power cut while it was
    # written: the stage before it is unknown, and a stage the host may have
    # confirmed must not leave the keys in place.
    return value if value in STAGES else "wiping"


def set_stage(storage, name):
    storage.write_atomic(DECOMMISSION_FILE, json.dumps({"stage": name}).encode())


def wiped_files(storage):
    """Everything that belongs to this merchant: card data (the journal, its
    side files, the support export), the trace mark, passwords, settings,
    the service term, the acquirer's parameters."""
    return (Journal(storage).file_names() + [EXPORT_NAME, TRACE_MARK, Operators.FILE, Settings.FILE,
                                             Settings.ACQUIRER_FILE, SERVICE_TERM_FILE])


def wipe(storage, keystore, say=None):
    """Erase keys and data, in an order a power cut can resume anywhere."""
    set_stage(storage, "wiping")
    keystore.erase()
    for name in wiped_files(storage):
        storage.remove(name)        # a file already gone is no error: the wipe may be resumed
        if say:
            say("wiped %s" % name)
    storage.remove(DECOMMISSION_FILE)


def resume_at_boot(storage, keystore, say=None):
    """-> True when a wipe the host had confirmed was finished now."""
    if stage(storage) in WIPE_AT_BOOT:
        wipe(storage, keystore, say)
        return True
    return False
