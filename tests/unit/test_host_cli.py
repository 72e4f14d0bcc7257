"""pos-host as a process: it prints where it listens, serves, applies the
faults given on the command line, and stops cleanly on Ctrl-C."""

import os
import re
import signal
import socket
import subprocess
import sys

from hal.sim.deck import find_card
from emulator.host.cli import main
from emulator.host.record import read_record
from tests.unit.test_host_terminal import Terminal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_host(*args):
    proc = subprocess.Popen([sys.executable, "-m", "emulator.host.cli", "--port", "0"] + list(args),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.match(r"host listening on 127\.0\.0\.1:(\d+)$", line.strip())
    if not match:
        proc.kill()
        raise AssertionError("unexpected first line %r, stderr: %s" % (line, proc.communicate()[1]))
    return proc, int(match.group(1))


def test_cli_serves_applies_faults_and_stops_on_ctrl_c(tmp_path):
    record = tmp_path / "frames.log"
    proc, port = start_host("--db", str(tmp_path / "host.sqlite"), "--record", str(record),
                            "--fault", "decline:0200:1:51", "--unknown-tid", "99999999")
    try:
        t = Terminal(port)
        assert t.sign_on()[1][39] == "00"
        assert t.sale(find_card("debit-mag"), 100)[1][39] == "51"
        assert t.sale(find_card("debit-mag"), 100)[1][39] == "00"
        assert Terminal(port, tid="99999999").sign_on()[1][39] == "97"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "host stopped" in out
    assert "0200 tid=10000001 trace=000002 proc=000000 card=622202*********0017 amount=100" \
        " -> 51 [fault decline]" in out
    assert find_card("debit-mag").pan not in out
    assert len(read_record(record)) == 8


def test_cli_default_db_is_a_temp_file():
    proc, port = start_host()
    try:
        line = proc.stdout.readline()
        assert line.startswith("ledger ") and line.strip().endswith("host.sqlite")
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_cli_refuses_a_bad_fault_spec(capsys):
    assert main(["--port", "0", "--fault", "explode:0200"]) == 2
    assert "unknown fault kind" in capsys.readouterr().err


def test_cli_refuses_a_bad_master_key(capsys):
    assert main(["--port", "0", "--master-key", "0123"]) == 2
    assert "master key" in capsys.readouterr().err


def test_cli_refuses_a_bad_param(capsys):
    assert main(["--port", "0", "--param", "qps_no_pin_limit_fen=thirty"]) == 2
    assert "whole number of fen" in capsys.readouterr().err
    assert main(["--port", "0", "--param", "lang=en"]) == 2
    assert "NAME one of qps_no_pin_limit_fen" in capsys.readouterr().err


def test_param_specs_parse_to_settings_values():
    from emulator.host.cli import parse_param_spec
    assert parse_param_spec("qps_no_pin_limit_fen=30000") == ("qps_no_pin_limit_fen", 30000)
    assert parse_param_spec("esign_void=true") == ("esign_void", True)
    assert parse_param_spec("esign_refund=0") == ("esign_refund", False)


def start_host_with_control():
    """pos-host with its control channel on a free port -> (process, port, HostControl)."""
    from emulator.host.control import HostControl
    proc, port = start_host("--control", "0")
    match = re.match(r"control on (127\.0\.0\.1:\d+)$", proc.stdout.readline().strip())
    if not match:
        proc.kill()
        raise AssertionError("no control line")
    return proc, port, HostControl(match.group(1))


def test_control_channel_arms_and_clears_faults_on_a_running_host(tmp_path):
    proc, port, control = start_host_with_control()
    try:
        t = Terminal(port)
        assert t.sign_on()[1][39] == "00"
        armed = control.fault("decline", mti="0200", count=0, code="51")   # 0: until cleared
        assert armed == [{"kind": "decline", "mti": "0200", "remaining": None, "delay_ms": None,
                          "code": "51", "fired": 0}]
        assert t.sale(find_card("debit-mag"), 100)[1][39] == "51"
        assert t.sale(find_card("debit-mag"), 100)[1][39] == "51"
        assert control.faults()[0]["fired"] == 2
        assert control.clear() == []
        assert t.sale(find_card("debit-mag"), 100)[1][39] == "00"
        # bad requests are refused and arm nothing
        for bad in ({"kind": "explode"}, {"kind": "delay", "code": "51"}, {"kind": "drop", "colour": 1}):
            try:
                control.request("fault", **bad)
            except ValueError as e:
                assert str(e)
            else:
                raise AssertionError("accepted %r" % bad)
        assert control.faults() == []
        with socket.create_connection(control.address, 5) as sock:
            sock.sendall(b"not json\n")
            assert b'"ok": false' in sock.recv(4096)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_control_channel_plays_the_qr_customer(tmp_path):
    """The customer's phone on a pos-host the test did not start: confirms a
    waiting B2C order, and pays a C2B code with a deck wallet."""
    from tests.unit.test_host_qr import qr_sale
    proc, port, control = start_host_with_control()
    try:
        t = Terminal(port)
        assert t.sign_on()[1][39] == "00"
        reply, f59 = qr_sale(t, 700, "281234567890123456")          # ali-confirm: waits for the customer
        assert reply[39] == "09"
        assert control.qr_customer(f59["A4"]) == "PAID"
        reply, f59 = qr_sale(t, 800)                                # a C2B code
        assert control.qr_customer(f59["A4"], wallet="wx-pay") == "PAID"
        reply, f59 = qr_sale(t, 900)
        assert control.qr_customer(f59["A4"], action="cancel") == "CLOSED"
        for bad in ({"order": "NOPE", "action": "pay"}, {"order": f59["A4"], "action": "steal"},
                    {"order": f59["A4"], "action": "pay", "colour": 1}):
            try:
                control.request("qr_customer", **bad)
            except ValueError as e:
                assert str(e)
            else:
                raise AssertionError("accepted %r" % bad)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_pos_host_gives_its_params_and_its_control_channel_changes_them(tmp_path):
    """pos-host --param for every terminal, then the control channel's
    params op for one: what the terminal downloads after its sign-on."""
    from emulator.host.control import HostControl
    from tests.unit.test_host_server import parameters
    proc, port = start_host("--param", "qps_no_pin_limit_fen=30000", "--param", "esign_void=true",
                            "--control", "0")
    try:
        match = re.match(r"control on (127\.0\.0\.1:\d+)$", proc.stdout.readline().strip())
        assert match
        control = HostControl(match.group(1))
        t = Terminal(port)
        assert t.sign_on()[1][39] == "00"
        assert parameters(t)[1][62] == b"Q100530000Q2006100000E10011E20010"
        assert control.params(tid=t.tid, qps_no_signature_limit_fen=50000)["qps_no_signature_limit_fen"] == 50000
        assert parameters(t)[1][62] == b"Q100530000Q200550000E10011E20010"
        for bad in ({"lang": "en"}, {"esign_void": "yes"}):
            try:
                control.params(**bad)
            except ValueError as e:
                assert str(e)
            else:
                raise AssertionError("accepted %r" % bad)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err
