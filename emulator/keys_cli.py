"""pos-keys: key injection on the bench (docs/SECURITY.md).

    pos-keys inject --store "file:/var/pos/keys.json?kek=/etc/pos/kek" --component HEX --component HEX
    pos-keys inject --store "file:/var/pos/keys.json?kek=/etc/pos/kek" --tmk HEX
    pos-keys show   --store "file:/var/pos/keys.json?kek=/etc/pos/kek"
    pos-keys inject --store sim: --data pos-data --tmk HEX       the emulator's store

`inject` writes the terminal master key (TMK) into the key store, whole or
as components that two custodians type separately (XORed here, each
component's check value shown for the custodian to compare with the slip),
and prints the TMK's check value. It creates the key-encryption key (16
random bytes, mode 0400) when the store's KEK file does not exist yet.
The published test key is refused unless --test-key says it is meant.
`show` prints the check values of the keys in the store, never a key.
"""

import argparse
import os
import sys

from hal import open_device
from hal.errors import DeviceError
from hal.keystore import TEST_MASTER_KEY, check_value
from hal.linux.keystore import KEK_LENGTH, read_kek


def build_parser():
    p = argparse.ArgumentParser(prog="pos-keys", description="Key injection for the POS handset.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("inject", "write the terminal master key into the key store"),
                       ("show", "print the check values of the stored keys")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--store", required=True,
                       help="key store address, e.g. file:/var/pos/keys.json?kek=/etc/pos/kek")
        s.add_argument("--data", help="the data directory (needed by sim:, checked against a file: KEK)")
        if name == "inject":
            s.add_argument("--tmk", help="the whole TMK, 32 or 48 hex digits")
            s.add_argument("--component", action="append", default=[], metavar="HEX",
                           help="one TMK component (repeat; the TMK is their XOR)")
            s.add_argument("--test-key", action="store_true",
                           help="allow the published test key (emulator and bench only)")
            s.add_argument("--algorithm", choices=("3des", "sm4"), default="3des",
                           help="algorithm of the check values shown (default 3des)")
    return p


def _hex_key(text, what):
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("%s is not hex" % what)
    if len(key) not in (16, 24):
        raise ValueError("%s must be 32 or 48 hex digits, not %d" % (what, len(text)))
    return key


def master_key_from(args, out):
    """The TMK from --tmk or the XOR of --component's, each component's
    check value printed."""
    if bool(args.tmk) == bool(args.component):
        raise ValueError("give either --tmk or two or more --component")
    if args.tmk:
        return _hex_key(args.tmk, "--tmk")
    if len(args.component) < 2:
        raise ValueError("a TMK in components needs at least two --component")
    key = None
    for index, text in enumerate(args.component, 1):
        part = _hex_key(text, "component %d" % index)
        out.write("component %d KCV %s\n" % (index, check_value(part, args.algorithm, 3).hex().upper()))
        if key is not None and len(part) != len(key):
            raise ValueError("components differ in length")
        key = part if key is None else bytes(a ^ b for a, b in zip(key, part))
    return key


def ensure_kek(address, out):
    """Create the KEK file of a file: store if it does not exist yet."""
    if not address.startswith("file:") or "kek=" not in address:
        return
    path = address.split("kek=", 1)[1].split("&", 1)[0]
    if read_kek(path) is not None:
        return
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(KEK_LENGTH))
        f.flush()
        os.fsync(f.fileno())
    out.write("new key-encryption key %s (mode 0400): keep it off the data partition\n" % path)


def open_store(args):
    storage = open_device("storage", "dir:" + args.data) if args.data else None
    extra = {"storage": storage} if storage is not None else {}
    return open_device("keystore", args.store, **extra)


def main(argv=None, out=None):
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        if args.command == "inject":
            key = master_key_from(args, out)
            if key == TEST_MASTER_KEY and not args.test_key:
                raise ValueError("that is the published test key: a terminal keyed with it signs on only"
                                 " in test mode (add --test-key if that is what you want)")
            ensure_kek(args.store, out)
            store = open_store(args)
            store.inject_master_key(key)
            out.write("TMK KCV %s\n" % check_value(key, args.algorithm, 3).hex().upper())
            out.write("working keys cleared: the terminal signs on for new ones\n")
        else:
            store = open_store(args)
            show(store, out)
    except (ValueError, OSError, DeviceError) as e:
        sys.stderr.write("pos-keys: %s\n" % e)
        return 2
    return 0


def show(store, out):
    kcv = store.master_key_check_value()
    out.write("TMK KCV %s\n" % (kcv[:3].hex().upper() if kcv else "none (not keyed)"))
    if store.uses_test_master_key():
        out.write("TMK is the published test key: signs on only with test_keys on\n")
    present = store.key_names()
    for slot, label in (("pin_key", "PIN key"), ("mac_key", "MAC key"), ("track_key", "track key"),
                        ("data_key", "data key")):
        out.write("%s %s\n" % (label, "present" if slot in present else "none"))


if __name__ == "__main__":
    sys.exit(main())
