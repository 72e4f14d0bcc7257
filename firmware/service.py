"""The service reset: what a technician does on the bench when a terminal's
passwords cannot be trusted (operators.json damaged or deleted, every
account locked, "Service needed: passwords" on the idle screen).

    micropython -m firmware.service /etc/pos.json reset [--discard-unsettled]

It runs from a shell on the handset (the bench's serial console or SSH as
root), never from a menu: no key sequence reaches it, so the merchant
cannot. It
  1. refuses while the journal holds unfinished money (an unsettled batch,
     a reversal or refund not yet answered) unless --discard-unsettled is
     given: the acquirer's records then stand alone for that batch;
  2. wipes the card data: the journal, its side files and the support
     export (masked and sealed card numbers);
  3. removes operators.json, then the key store's "passwords" mark: the
     factory passwords (123456, 0000) come back, and each must be changed
     at its first use.
A power cut in between leaves the terminal locked ("service needed"), and
the reset can simply be run again. The only other way back to the factory
passwords is a key injection, which erases the key store's marks.
"""

import sys

from hal import open_device
from firmware.journal import Journal
from firmware.operators import SETUP_MARK, Operators
from firmware.terminal import TerminalState

USAGE = "usage: firmware.service CONFIG reset [--discard-unsettled]"


def card_data_files(storage):
    """Every file holding card data: the journal, its side files, and the
    support export (a copy of them)."""
    from firmware.support import EXPORT_NAME
    return Journal(storage).file_names() + [EXPORT_NAME]


class ServiceError(Exception):
    pass


def unsettled(storage, keystore):
    """What the journal still owes, as text lines (empty: nothing). Read
    with the key store's MAC, as the app reads it: a journal that does not
    verify owes an unknown amount, and says so."""
    try:
        state = TerminalState(Journal(storage, mac=keystore.journal_mac)).load()
    except Exception as e:  # noqa: BLE001 - an unreadable journal is reported, not a crash
        return ["journal cannot be read: %s" % e]
    owed = []
    if state.problems:
        owed.append("journal damaged (%d problem(s)): what it owes is unknown" % len(state.problems))
    if state.pending_reversals():
        owed.append("%d reversal(s) not answered" % len(state.pending_reversals()))
    if state.pending_refunds():
        owed.append("%d refund(s) not answered" % len(state.pending_refunds()))
    if not state.batch_is_empty():
        owed.append("batch %06d not settled (%d transaction(s))" % (state.batch, len(state.batch_txns())))
    return owed


def reset(storage, keystore, discard_unsettled=False, say=print):
    """The service reset (see the module's doc). Raises ServiceError when
    it refuses; then nothing has changed."""
    owed = unsettled(storage, keystore)
    if owed and not discard_unsettled:
        raise ServiceError("refused, the journal still owes: %s (settle first, or give "
                           "--discard-unsettled)" % "; ".join(owed))
    for line in owed:
        say("discarded: %s" % line)
    for name in card_data_files(storage):
        if storage.read(name) is not None:
            storage.remove(name)
            say("wiped: %s" % name)
    if storage.read(Operators.FILE) is not None:
        storage.remove(Operators.FILE)
        say("removed: %s" % Operators.FILE)
    keystore.clear_mark(SETUP_MARK)
    say("factory passwords restored: each must be changed at its first use")


def main(argv=None):
    import json
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[1] != "reset" or [a for a in argv[2:] if a != "--discard-unsettled"]:
        print(USAGE)
        sys.exit(2)
    try:
        with open(argv[0]) as f:
            config = json.load(f)
        from firmware.main import SIM_DEVICES
        devices = dict(SIM_DEVICES)
        devices.update(config.get("devices") or {})
        storage = open_device("storage", devices["storage"])
        keystore = open_device("keystore", devices["keystore"], storage=storage)
        reset(storage, keystore, "--discard-unsettled" in argv[2:])
    except ServiceError as e:
        print("service reset: %s" % e)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - a bench tool: say what failed, plainly
        print("service reset: cannot: %s: %s" % (type(e).__name__, e))
        sys.exit(2)


if __name__ == "__main__":
    main()
