"""pos-vm: the virtual ARM handset, host side in one command.

    pos-vm                         boot it; print the test port, the console log, the boot time
    pos-vm --hil pty               serve the HIL test protocol on a new pty (first line:
                                   "HIL port: /dev/pts/N"), or --hil socket://127.0.0.1:7000
    pos-vm --build-only            build (or find) the image and exit

It builds the image once (emulator/qemu/image.py), starts the acquirer host
simulator on the host's loopback (the guest reaches it at 10.0.2.2), boots
qemu-system-aarch64 with the handset's devices, waits for the firmware's
idle screen and serves its test port until SIGTERM or Ctrl-C.
"""

import argparse
import os
import signal
import sys
import tempfile

from emulator.cli import parse_settings, serve_until_stopped


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="pos-vm", description="the virtual ARM handset (QEMU)")
    parser.add_argument("--work", help="folder for the data disk, console log and host ledger; "
                                       "default: a new temporary folder (an existing one boots its disk again)")
    parser.add_argument("--hil", metavar="PORT", default="pty",
                        help="where to serve the test protocol: 'pty' (default) or 'socket://127.0.0.1:PORT'")
    parser.add_argument("--lang", choices=("zh", "en"), help="screen language")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a firmware setting, e.g. message_ms=200")
    parser.add_argument("--build-only", action="store_true", help="build or find the image, print where, exit")
    return parser.parse_args(argv)


def main(argv=None):
    from emulator.hil import HilPort, parse_hil_url
    from emulator.qemu.handset import ArmBridge, GuestError, VirtualHandset
    from emulator.qemu.image import ImageError, build_image
    from emulator.qemu.vm import VmError

    args = parse_args(sys.argv[1:] if argv is None else argv)

    def log(message):
        print("pos-vm: %s" % message, file=sys.stderr, flush=True)

    if args.build_only:
        try:
            print(build_image(log=log).directory)
        except ImageError as e:
            log(str(e))
            return 2
        return 0
    try:
        parse_hil_url(args.hil)
        settings = parse_settings(args.set)
    except ValueError as e:
        log(str(e))
        return 2
    if args.lang:
        settings["lang"] = args.lang
    work = args.work or tempfile.mkdtemp(prefix="pos-vm-")
    handset = VirtualHandset(work, settings=settings, log=log)
    port = None
    try:
        handset.start()
        port = HilPort(ArmBridge(handset), args.hil)
        print("HIL port: %s" % port.start(), flush=True)
        log("booted to idle in %.1f s; console log %s" % (handset.boot_seconds, handset.vm.console_log))
        return serve_until_stopped()
    except (ImageError, VmError, GuestError, OSError) as e:
        log(str(e))
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        # a second SIGTERM (from `timeout`, say) must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if port is not None:
            port.stop()
        handset.stop()


if __name__ == "__main__":
    sys.exit(main())
