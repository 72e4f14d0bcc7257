"""The modem contract, for every backend (sim, AT over a pty)."""

import asyncio
import socket

import pytest

from firmware import texts
from hal.compat import TimeoutError as HalTimeout
from hal.errors import ModemError


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def echo_server():
    """A TCP peer on loopback that echoes: the acquirer stands in."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(5)
    import threading

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(64)
                if data:
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_a_registered_modem_reports_its_state_and_connects(modem_rig, echo_server):
    modem = modem_rig.device

    async def go():
        modem_rig.set_csq(20)
        await modem_rig.settle()
        assert modem.sim_status() == "READY"
        assert modem.signal() == 20 and modem.signal_dbm() == -73
        assert modem.registration() == "home"
        link = await modem.connect("127.0.0.1", echo_server, 2000)
        await link.send(b"0200")
        assert await link.recv_exact(4, 2000) == b"0200"
        link.close()

    run(go())


def test_unknown_signal_is_99_and_no_dbm(modem_rig):
    modem_rig.set_csq(99)
    run(modem_rig.settle())
    assert modem_rig.device.signal() == 99 and modem_rig.device.signal_dbm() is None


@pytest.mark.parametrize("stat, words", [(2, "searching"), (3, "denied")])
def test_no_network_refuses_a_connection_with_the_reason(modem_rig, echo_server, stat, words):
    modem_rig.set_registration(stat)

    async def go():
        await modem_rig.settle()
        with pytest.raises(ModemError) as caught:
            await modem_rig.device.connect("127.0.0.1", echo_server, 2000)
        assert words in str(caught.value)

    run(go())


def test_roaming_connects(modem_rig, echo_server):
    modem_rig.set_registration(5)

    async def go():
        await modem_rig.settle()
        assert modem_rig.device.registration() == "roaming"
        (await modem_rig.device.connect("127.0.0.1", echo_server, 2000)).close()

    run(go())


def test_no_sim_refuses_a_connection(modem_rig, echo_server):
    modem_rig.remove_sim()

    async def go():
        await modem_rig.settle()
        assert modem_rig.device.sim_status() == "ABSENT"
        with pytest.raises(ModemError) as caught:
            await modem_rig.device.connect("127.0.0.1", echo_server, 2000)
        assert "SIM" in str(caught.value)

    run(go())


def test_a_refused_connection_is_a_modem_error(modem_rig):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ModemError):
        run(modem_rig.device.connect("127.0.0.1", port, 2000))


def test_a_link_whose_host_never_answers_times_out(modem_rig):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    async def go():
        link = await modem_rig.device.connect("127.0.0.1", server.getsockname()[1], 2000)
        with pytest.raises(HalTimeout):
            await link.recv_exact(2, 100)
        link.close()

    try:
        run(go())
    finally:
        server.close()


def test_unsolicited_lines_never_corrupt_an_answer(modem_rig):
    modem_rig.require("urc")
    modem_rig.set_csq(17)
    modem_rig.peer.urc_before_answer = "+CEREG: 2"   # between every command and its answer

    async def go():
        await modem_rig.device.refresh()
        assert modem_rig.device.signal() == 17
        assert modem_rig.device.sim_status() == "READY"
        assert "+CEREG: 2" in modem_rig.device.unsolicited
        # The unsolicited one-field lines are state changes and count: the
        # network (LTE and the 2G/3G fallback) was lost after the answer said "home".
        modem_rig.peer.urc_before_answer = "RING"
        modem_rig.peer.send_urc("+CEREG: 2")
        modem_rig.peer.send_urc("+CREG: 2")
        await asyncio.sleep(0.05)
        assert modem_rig.device.registration() == "searching"

    run(go())


def _fails_clearly(rig, echo_server, words):
    with pytest.raises(ModemError) as caught:
        run(rig.device.connect("127.0.0.1", echo_server, 3000), timeout=6)
    assert any(word in str(caught.value) for word in words), str(caught.value)
    assert caught.value.code in texts.MESSAGES


def test_a_modem_that_never_answers_is_a_clear_error_not_a_hang(modem_rig, echo_server):
    modem_rig.require("silent")
    modem_rig.silent()
    _fails_clearly(modem_rig, echo_server, ["not responding"])


def test_a_modem_answering_garbage_is_a_clear_error(modem_rig, echo_server):
    modem_rig.require("garble")
    modem_rig.garble()
    _fails_clearly(modem_rig, echo_server, ["not responding", "answered"])


def test_an_unplugged_modem_is_a_clear_error(modem_rig, echo_server):
    modem_rig.require("unplug")
    modem_rig.unplug()
    _fails_clearly(modem_rig, echo_server, ["gone", "not responding"])


def test_a_modem_that_comes_back_is_used_again(modem_rig, echo_server):
    modem_rig.require("silent")

    async def go():
        modem_rig.silent()
        with pytest.raises(ModemError):
            await modem_rig.device.connect("127.0.0.1", echo_server, 3000)
        modem_rig.peer.silent = False
        modem_rig.peer.echo = True     # it was reset meanwhile: echo on again
        (await modem_rig.device.connect("127.0.0.1", echo_server, 3000)).close()
        assert "ATE0" in modem_rig.peer.commands[-8:]

    run(go())


def test_every_connection_asks_the_state_afresh(modem_rig, echo_server):
    """A SIM pulled since the last connection is seen without waiting for
    an unsolicited line."""
    async def go():
        (await modem_rig.device.connect("127.0.0.1", echo_server, 2000)).close()
        modem_rig.remove_sim()
        with pytest.raises(ModemError, match="SIM"):
            await modem_rig.device.connect("127.0.0.1", echo_server, 2000)

    run(go())


def test_a_cancelled_connection_leaves_the_modem_usable(modem_rig, echo_server):
    """CANCEL while the modem is asked or the link opens: nothing hangs and
    the next connection works."""
    async def go():
        attempt = asyncio.ensure_future(modem_rig.device.connect("127.0.0.1", echo_server, 2000))
        await asyncio.sleep(0)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        await asyncio.sleep(0.05)
        link = await modem_rig.device.connect("127.0.0.1", echo_server, 2000)
        await link.send(b"0800")
        assert await link.recv_exact(4, 2000) == b"0800"
        link.close()

    run(go())
