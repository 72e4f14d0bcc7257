"""pos-emulator: the handset on your desk.

    pos-emulator                      the handset in a window (Tk); without a display or
                                      tkinter, the console, saying why
    pos-emulator --console            the screen as text, type commands (help)
    pos-emulator --script demo.txt --out out/
                                      run a script headless, PNGs of screens/receipts in out/;
                                      exit 0 done, 1 failed, 42 its `timeout` ran out
    pos-emulator --hil pty            serve the HIL test protocol on a new pty (prints its path);
                                      or --hil socket://127.0.0.1:7000 (docs/HIL.md)
    pos-emulator --host 127.0.0.1:5555 [--host-control 127.0.0.1:5556] [--record F]
                                      talk to a host you run yourself (pos-host); faults
                                      through its control channel; frames recorded here

Without --host an acquirer host simulator starts in-process on a free
loopback port, with its ledger next to the handset's data.
"""

import argparse
import os
import sys
import tempfile

from emulator.commands import TIMEOUT_EXIT, CommandError, CommandRunner, ScriptTimeout, screen_box
from emulator.handset import Handset
from emulator.world import World
from firmware.settings import SettingsError


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="pos-emulator", description="POS handset emulator")
    parser.add_argument("--data", help="handset data directory (journal, keys, settings); "
                                       "default: a new temporary directory")
    parser.add_argument("--host", help="acquirer host as HOST:PORT; default: start the simulator in-process")
    parser.add_argument("--lang", choices=("zh", "en"), help="screen language")
    parser.add_argument("--script", help="run the commands in this file, then exit (headless)")
    parser.add_argument("--bless", action="store_true",
                        help="script screenshots: write missing or changed reference images")
    parser.add_argument("--console", action="store_true", help="the text console, not the window")
    parser.add_argument("--scale", type=int, choices=(2, 3), default=2,
                        help="window: screen pixels per framebuffer pixel (default %(default)s)")
    parser.add_argument("--out", default="emulator-out", help="where png/paper commands write (default: %(default)s)")
    parser.add_argument("--record", help="record every frame to this file (pos-host's format); with "
                                         "--host, recorded on the terminal side")
    parser.add_argument("--host-control", metavar="HOST:PORT",
                        help="with --host: the host's control channel (pos-host --control), for faults")
    parser.add_argument("--host-http", type=int, metavar="PORT",
                        help="the emulator's own host also serves e-receipts on http://127.0.0.1:PORT/receipt"
                             " (0: any free port), and the handset's ereceipt_url points there (docs/ESIGN.md)")
    parser.add_argument("--log", action="store_true", help="print the firmware log to stderr")
    parser.add_argument("--hil", metavar="PORT",
                        help="serve the test protocol on 'pty' (prints the pty path) or "
                             "'socket://127.0.0.1:PORT'; see docs/HIL.md")
    parser.add_argument("--clock", metavar="YYYYMMDDhhmmss",
                        help="a stopped clock for the handset and its host (golden screens, docs)")
    parser.add_argument("--trust", action="append", default=[], metavar="KEY.pub",
                        help="a public key whose bundles pos-flash may install here (docs/FLASHING.md)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a handset setting (JSON value or text), e.g. message_ms=200")
    return parser.parse_args(argv)


def parse_clock(text):
    """'20261201093000' -> (2026, 12, 1, 9, 30, 0); ValueError otherwise."""
    import datetime
    try:
        moment = datetime.datetime.strptime(text, "%Y%m%d%H%M%S")
    except (TypeError, ValueError):
        raise ValueError("--clock takes YYYYMMDDhhmmss, not %r" % (text,))
    return moment


def start_host(args, data_dir, clock=None):
    from emulator.host.server import HostSimulator
    # the in-process host records (it sees every frame, even those the
    # terminal never reads)
    host = HostSimulator(os.path.join(data_dir, "host.sqlite"), record_path=args.record,
                         now=(lambda: clock) if clock is not None else None)
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
    control = None
    clock = None
    if args.clock:
        try:
            clock = parse_clock(args.clock)
        except ValueError as e:
            print("pos-emulator: %s" % e, file=sys.stderr)
            return 2
    if args.host:
        address, _, port = args.host.rpartition(":")
        if not port.isdigit():
            print("pos-emulator: --host must be HOST:PORT, like 127.0.0.1:5555", file=sys.stderr)
            return 2
        port = int(port)
        if args.host_control:
            from emulator.host.control import HostControl
            try:
                control = HostControl(args.host_control)
            except ValueError as e:
                print("pos-emulator: --host-control: %s" % e, file=sys.stderr)
                return 2
    elif args.host_control:
        print("pos-emulator: --host-control goes with --host (the emulator's own host needs none)",
              file=sys.stderr)
        return 2
    else:
        host, address, port = start_host(args, data_dir, clock)
    settings = {"host_address": address, "host_port": port}
    if args.host_http is not None:
        if host is None:
            print("pos-emulator: --host-http is for the emulator's own host (pos-host --http serves"
                  " another's)", file=sys.stderr)
            return 2
        try:
            http_port = host.start_receipts_in_thread(args.host_http)
        except OSError as e:
            print("pos-emulator: --host-http: cannot listen on port %d: %s" % (args.host_http, e.strerror),
                  file=sys.stderr)
            host.stop_thread()
            return 2
        settings["ereceipt_url"] = "http://127.0.0.1:%d/receipt" % http_port
        print("e-receipts on %s" % settings["ereceipt_url"], flush=True)
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
    devices = {"clock": "sim:?fixed=" + args.clock} if clock is not None else None
    handset = Handset(os.path.join(data_dir, "handset"), settings=settings, devices=devices,
                      log_stream=sys.stderr if args.log else None, image_dir=image_dir)
    world = World(handset, host, control, record_path=args.record if args.host else None)
    try:
        try:
            handset.start()
        except SettingsError as e:
            print("pos-emulator: cannot start: %s" % e, file=sys.stderr)
            return 2
        script_dir = os.path.dirname(os.path.abspath(args.script)) if args.script else "."
        runner = CommandRunner(world, args.out, script_dir=script_dir, bless=args.bless)
        if args.hil:
            from emulator.hil import open_hil_port
            try:
                hil_port, hil_address = open_hil_port(world, args.hil)
            except (ValueError, OSError) as e:
                print("pos-emulator: --hil: %s" % e, file=sys.stderr)
                return 2
            print("HIL port: %s" % hil_address, flush=True)
            if not args.script and not sys.stdin.isatty():
                return serve_until_stopped()
        if args.script:
            return run_script(runner, args.script)
        if not args.console:
            from emulator.window import WindowUnavailable, run_window, window_unavailable
            reason = window_unavailable()
            if reason is None:
                try:
                    return run_window(world, runner, scale=args.scale)
                except WindowUnavailable as e:
                    reason = str(e)
            print("pos-emulator: no window (%s): the console instead (--console chooses it)" % reason,
                  file=sys.stderr)
        return console(runner, handset, address, port)
    except KeyboardInterrupt:
        return 0
    finally:
        if hil_port is not None:
            hil_port.stop()
        handset.stop()
        world.close()
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
        except ScriptTimeout as e:
            print("pos-emulator: %s line %d: %s" % (path, number, e), file=sys.stderr)
            return TIMEOUT_EXIT
        except CommandError as e:
            print("pos-emulator: %s line %d: %s" % (path, number, e), file=sys.stderr)
            return 1
    return 0


def console(runner, handset, address, port):
    print("POS handset emulator. Host %s:%d. Type 'help' for commands, 'quit' to leave." % (address, port))
    last = None
    while True:
        box = screen_box(handset) if handset.running else "(the handset is off: power-on boots it)"
        if box != last:
            print(box)
            last = box
        try:
            line = input("pos> ")
        except EOFError:
            return 0
        if line.strip() in ("quit", "exit", "q"):
            return 0
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
