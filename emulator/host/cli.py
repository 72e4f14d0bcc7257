"""pos-host: run the acquirer host simulator until Ctrl-C; or check a
receipt's verification code against its books.

    pos-host --port 5555 --db host.sqlite --record frames.log \\
             --fault no_reply:0200:1 --fault delay:0200:1:5000 --unknown-tid 99999999
    pos-host verify 1837 8151 0621 --db host.sqlite
    pos-host receipt --rrn 093000000012 --ledger host.sqlite --out receipt.png
    pos-host --port 5555 --http 8080        e-receipts at /receipt?t=&r=&c= (emulator/host/web.py)
    pos-host --port 5555 --control 5556     arm/clear faults later over JSON Lines
                                            on loopback (emulator/host/control.py)
    pos-host --param qps_no_pin_limit_fen=30000 --param esign_void=true
                                            the terminal parameters every terminal
                                            downloads at sign-on (firmware/termparams.py)
"""

import argparse
import asyncio
import os
import signal
import sys
import tempfile

from emulator.host.faults import KINDS, parse_fault_spec
from emulator.host.security import MAC_ALGORITHMS


def build_parser():
    p = argparse.ArgumentParser(
        prog="pos-host",
        description="UnionPay-style ISO 8583 acquirer host simulator (TCP, SQLite ledger).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=5555, help="TCP port (0: any free port)")
    p.add_argument("--db", help="SQLite ledger file (default: a new one in a temp directory)")
    p.add_argument("--record", metavar="FILE",
                   help="append every frame received/sent to FILE, one hex line each")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:MTI[:COUNT[:ARG]]]",
                   help="arm a fault (repeatable); kinds: %s; ARG is ms for delay, F39 for"
                        " decline, unsigned and esign_down" % ", ".join(KINDS))
    p.add_argument("--control", type=int, metavar="PORT",
                   help="listen for fault commands (JSON Lines) on 127.0.0.1:PORT (0: any free"
                        " port); see emulator/host/control.py")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a terminal parameter every terminal downloads after its sign-on (repeatable):"
                        " qps_no_pin_limit_fen, qps_no_signature_limit_fen (fen), esign_void,"
                        " esign_refund (true/false); default UnionPay's: 100000 fen, false")
    p.add_argument("--http", type=int, metavar="PORT",
                   help="serve e-receipts (PNG) at http://HOST:PORT/receipt?t=TERMINAL&r=RRN&c=CODE"
                        " (0: any free port); see emulator/host/web.py")
    p.add_argument("--unknown-tid", action="append", default=[], metavar="TID",
                   help="terminal id answered with F39 97 (repeatable)")
    p.add_argument("--master-key", default="0123456789ABCDEFFEDCBA9876543210",
                   help="terminal master key, hex (16, 32 or 48 digits)")
    p.add_argument("--mac", choices=MAC_ALGORITHMS, default="x919",
                   help="MAC algorithm (default x919: ANSI X9.19; ecb is forgeable, an acquirer option)")
    p.add_argument("--key-algorithm", choices=("3des", "sm4"), default="3des",
                   help="working keys, PIN blocks and MACs with 3DES (default) or SM4 (国密)")
    p.add_argument("--single-mac-key", action="store_true",
                   help="issue single-length MAC keys (8 bytes + 8 zeros in F62)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate (needs --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not print a line per request")
    return p


def verify_main(argv):
    """pos-host verify CODE --db host.sqlite: is this a real slip?"""
    p = argparse.ArgumentParser(prog="pos-host verify",
                                description="Check a receipt's verification code (12 digits, or the text of"
                                            " its QR code) against the host's books.")
    p.add_argument("code", nargs="+", help="the code printed on the slip (spaces allowed), or its QR code's text")
    p.add_argument("--db", required=True, help="the host's SQLite ledger")
    p.add_argument("--master-key", default="0123456789ABCDEFFEDCBA9876543210",
                   help="terminal master key, hex (the receipt key is derived from it)")
    args = p.parse_args(argv)
    try:
        master_key = bytes.fromhex(args.master_key)
    except ValueError:
        sys.stderr.write("pos-host verify: the master key is not hex\n")
        return 2
    if not os.path.exists(args.db):
        sys.stderr.write("pos-host verify: no ledger at %s\n" % args.db)
        return 2
    from emulator.host import receipts
    from emulator.host.ledger import Ledger
    ledger = Ledger(args.db)
    try:
        result = receipts.verify(ledger, master_key, " ".join(args.code))
    finally:
        ledger.close()
    print(receipts.describe(result), flush=True)
    return 0 if result["valid"] else 1


def receipt_main(argv):
    """pos-host receipt --rrn RRN: the e-receipt of a signed transaction as a PNG file."""
    p = argparse.ArgumentParser(prog="pos-host receipt",
                                description="Draw the electronic receipt (电子签购单) of a transaction whose"
                                            " signature was uploaded, from the host's books, as a PNG.")
    p.add_argument("--rrn", required=True, help="the transaction's reference number (12 digits)")
    p.add_argument("--terminal", help="its terminal id (needed only if two terminals share the RRN)")
    p.add_argument("--ledger", "--db", dest="ledger", default="host.sqlite",
                   help="the host's SQLite ledger (default host.sqlite)")
    p.add_argument("--out", help="PNG file to write (default ereceipt-TERMINAL-RRN.png)")
    args = p.parse_args(argv)
    if len(args.rrn) != 12 or not args.rrn.isdigit():
        sys.stderr.write("pos-host receipt: an RRN is 12 digits, not %r\n" % args.rrn)
        return 2
    if not os.path.exists(args.ledger):
        sys.stderr.write("pos-host receipt: no ledger at %s\n" % args.ledger)
        return 2
    from emulator.host import ereceipt, signatures
    from emulator.host.ledger import Ledger
    ledger = Ledger(args.ledger)
    try:
        record = signatures.receipt_of(ledger, tid=args.terminal, rrn=args.rrn)
    except LookupError as e:
        sys.stderr.write("pos-host receipt: %s (--terminal)\n" % e)
        return 1
    finally:
        ledger.close()
    if record is None:
        sys.stderr.write("pos-host receipt: no e-receipt for RRN %s%s: no approved transaction (not reversed)"
                         " with a completed signature upload\n" % (args.rrn, " on terminal %s" % args.terminal if args.terminal else ""))
        return 1
    out = args.out or "ereceipt-%s-%s.png" % (record["txn"]["tid"], args.rrn)
    try:
        with open(out, "wb") as f:
            f.write(ereceipt.png_bytes(record))
    except OSError as e:
        sys.stderr.write("pos-host receipt: cannot write %s: %s\n" % (out, e))
        return 1
    print("e-receipt of terminal %s batch %06d trace %06d RRN %s written to %s"
          % (record["txn"]["tid"], record["txn"]["batch"], record["txn"]["trace"], args.rrn, out), flush=True)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "verify":
        return verify_main(argv[1:])
    if argv and argv[0] == "receipt":
        return receipt_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        faults = [parse_fault_spec(spec) for spec in args.fault]
        params = dict(parse_param_spec(spec) for spec in args.param)
        master_key = bytes.fromhex(args.master_key)
        if len(master_key) not in (8, 16, 24):
            raise ValueError("master key must be 16, 32 or 48 hex digits")
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
    except ValueError as e:
        sys.stderr.write("pos-host: %s\n" % e)
        return 2
    db = args.db or os.path.join(tempfile.mkdtemp(prefix="pos-host-"), "host.sqlite")
    from emulator.host.server import HostSimulator
    try:
        host = HostSimulator(db, master_key=master_key, record_path=args.record,
                             mac_algorithm=args.mac, unknown_tids=args.unknown_tid,
                             mac_key_length=8 if args.single_mac_key else 16,
                             log=None if args.quiet else _print_line,
                             tls_cert=args.tls_cert, tls_key=args.tls_key, key_algorithm=args.key_algorithm)
    except (ValueError, OSError) as e:
        sys.stderr.write("pos-host: %s\n" % e)
        return 2
    for fault in faults:
        host.faults.add(**fault)
    try:
        host.acquirer.set_params(params)
    except ValueError as e:
        sys.stderr.write("pos-host: --param: %s\n" % e)
        return 2
    # Ctrl-C (SIGINT) stops it, even when started from a background job or
    # a CI runner that left SIGINT ignored (Python then raises no
    # KeyboardInterrupt); SIGTERM stops it the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(_serve(host, args.host, args.port, db, args.control, args.http))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        sys.stderr.write("pos-host: cannot listen on %s:%s: %s\n" % (args.host, args.port, e))
        return 1
    print("host stopped", flush=True)
    return 0


def parse_param_spec(spec):
    """'qps_no_pin_limit_fen=30000' -> (name, 30000); 'esign_void=true' ->
    (name, True). ValueError for an unknown name or a value of the wrong form."""
    from firmware import termparams
    name, sep, text = spec.partition("=")
    kinds = dict((entry[1], entry[2]) for entry in termparams.TAGS)
    if not sep or name not in kinds:
        raise ValueError("--param takes NAME=VALUE, NAME one of %s; not %r"
                         % (", ".join(termparams.setting_names()), spec))
    if kinds[name] == termparams.AMOUNT:
        if not text.isdigit():
            raise ValueError("%s is a whole number of fen, not %r" % (name, text))
        return name, int(text)
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError("%s is true or false, not %r" % (name, text))
    return name, text.lower() in ("true", "1")


def _print_line(text):
    print(text, flush=True)


async def _serve(host, address, port, db, control_port=None, http_port=None):
    port = await host.start(address, port)
    print("host listening on %s:%d" % (address, port), flush=True)
    if http_port is not None:
        http_port = await host.start_receipts(address, http_port)
        print("e-receipts on http://%s:%d/receipt" % (address, http_port), flush=True)
    control = None
    if control_port is not None:
        from emulator.host.control import serve_control
        control = await serve_control(host, control_port)
        print("control on 127.0.0.1:%d" % control.sockets[0].getsockname()[1], flush=True)
    print("ledger %s" % db, flush=True)
    try:
        await asyncio.Event().wait()  # until Ctrl-C cancels us
    finally:
        if control is not None:
            control.close()
        await host.stop()


if __name__ == "__main__":
    sys.exit(main())
