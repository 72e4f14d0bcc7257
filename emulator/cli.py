"""pos-emulator: the handset on your desk.

    pos-emulator                      console: the screen as text, type commands (help)
    pos-emulator --script demo.txt --out out/
                                      run a script headless, PNGs of screens/receipts in out/
    pos-emulator --hil pty            serve the HIL test protocol on a new pty (prints its path);
                                      or --hil socket://127.0.0.1:7000 (docs/HIL.md)
    pos-emulator --host 127.0.0.1:5555
                                      talk to a host you run yourself (pos-host)

Without --host an acquirer host simulator starts in-process on a free
loopback port, with its ledger next to the handset's data.
"""

import argparse
import os
import sys
import tempfile

from emulator.commands import CommandError, CommandRunner, screen_box
from emulator.handset import Handset
from firmware.settings import SettingsError


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="pos-emulator", description="POS handset emulator")
    parser.add_argument("--data", help="handset data directory (journal, keys, settings); "
                                       "default: a new temporary directory")
    parser.add_argument("--host", help="acquirer host as HOST:PORT; default: start the simulator in-process")
    parser.add_argument("--lang", choices=("zh", "en"), help="screen language")
    parser.add_argument("--script", help="run the commands in this file, then exit (headless)")
    parser.add_argument("--out", default="emulator-out", help="where png/paper commands write (default: %(default)s)")
    parser.add_argument("--record", help="host simulator: record every frame to this file")
    parser.add_argument("--log", action="store_true", help="print the firmware log to stderr")
    parser.add_argument("--hil", metavar="PORT",
                        help="serve the test protocol on 'pty' (prints the pty path) or "
                             "'socket://127.0.0.1:PORT'; see docs/HIL.md")
    parser.add_argument("--trust", action="append", default=[], metavar="KEY.pub",
                        help="a public key whose bundles pos-flash may install here (docs/FLASHING.md)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a handset setting (JSON value or text), e.g. message_ms=200")
    return parser.parse_args(argv)


def start_host(args, data_dir):
    from emulator.host.server import HostSimulator
    host = HostSimulator(os.path.join(data_dir, "host.sqlite"), record_path=args.record)
    port = host.start_in_thread()
    return host, "127.0.0.1", port


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    data_dir = args.data or tempfile.mkdtemp(prefix="pos-handset-")
    try:
        os.makedirs(data_dir, exist_ok=True)
    except OSError as e:
        print("pos-emulator: cannot use data directory %s: %s" % (data_dir, e.strerror), file=sys.stderr)
        return 2
    host = None
    if args.host:
        address, _, port = args.host.rpartition(":")
        if not port.isdigit():
            print("pos-emulator: --host must be HOST:PORT, like 127.0.0.1:5555", file=sys.stderr)
            return 2
        port = int(port)
    else:
        host, address, port = start_host(args, data_dir)
    settings = {"host_address": address, "host_port": port}
    if args.lang:
        settings["lang"] = args.lang
    try:
        settings.update(parse_settings(args.set))
    except ValueError as e:
        print("pos-emulator: %s" % e, file=sys.stderr)
        return 2
    if args.hil:
        from emulator.hil import parse_hil_url
        try:
            parse_hil_url(args.hil)
        except ValueError as e:
            print("pos-emulator: --hil: %s" % e, file=sys.stderr)
            return 2
        settings["test_protocol"] = True
    hil_port = None
    image_dir = os.path.join(data_dir, "image")
    if args.trust:
        from emulator.handset import trust_keys
        from hosttools.bundle import ToolError, load_public
        try:
            trust_keys(image_dir, [load_public(path) for path in args.trust])
        except ToolError as e:
            print("pos-emulator: --trust: %s" % e, file=sys.stderr)
            return 2
    handset = Handset(os.path.join(data_dir, "handset"), settings=settings,
                      log_stream=sys.stderr if args.log else None, image_dir=image_dir)
    try:
        try:
            handset.start()
        except SettingsError as e:
            print("pos-emulator: cannot start: %s" % e, file=sys.stderr)
            return 2
        runner = CommandRunner(handset, args.out)
        if args.hil:
            from emulator.hil import open_hil_port
            try:
                hil_port, hil_address = open_hil_port(handset, host, args.hil)
            except (ValueError, OSError) as e:
                print("pos-emulator: --hil: %s" % e, file=sys.stderr)
                return 2
            print("HIL port: %s" % hil_address, flush=True)
            if not args.script and not sys.stdin.isatty():
                return serve_until_stopped()
        if args.script:
            return run_script(runner, args.script)
        return console(runner, handset, address, port)
    except KeyboardInterrupt:
        return 0
    finally:
        if hil_port is not None:
            hil_port.stop()
        handset.stop()
        if host is not None:
            host.stop_thread()


def parse_settings(pairs):
    """['message_ms=200', 'lang=en'] -> {'message_ms': 200, 'lang': 'en'}."""
    import json
    from firmware.settings import defaults
    known = defaults()
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError("--set takes NAME=VALUE, not %r" % pair)
        if name not in known:
            raise ValueError("--set: no setting %r (known: %s)" % (name, ", ".join(sorted(known))))
        if isinstance(known[name], str):
            settings[name] = value   # a text setting stays text (a TPDU of digits is not a number)
            continue
        try:
            settings[name] = json.loads(value)
        except ValueError:
            settings[name] = value
    return settings


def serve_until_stopped():
    """Headless HIL: serve until SIGTERM or Ctrl-C."""
    import signal
    import time

    def stop(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, stop)
    while True:
        time.sleep(3600)


def run_script(runner, path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        print("pos-emulator: cannot read script %s: %s" % (path, e.strerror), file=sys.stderr)
        return 2
    for number, line in enumerate(lines, 1):
        try:
            runner.run_line(line)
        except CommandError as e:
            print("pos-emulator: %s line %d: %s" % (path, number, e), file=sys.stderr)
            return 1
    return 0


def console(runner, handset, address, port):
    print("POS handset emulator. Host %s:%d. Type 'help' for commands, 'quit' to leave." % (address, port))
    last = None
    while True:
        box = screen_box(handset)
        if box != last:
            print(box)
            last = box
        try:
            line = input("pos> ")
        except EOFError:
            return 0
        if line.strip() in ("quit", "exit", "q"):
            return 0
        if line.strip() == "help":
            from emulator import commands
            print(commands.__doc__)
            continue
        try:
            runner.run_line(line)
        except CommandError as e:
            print("! %s" % e)
        # let the firmware react before the screen is shown again
        handset.call(lambda: None)
        import time
        time.sleep(0.15)


if __name__ == "__main__":
    sys.exit(main())
