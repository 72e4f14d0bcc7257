"""A connection that never opened is "host down" under MicroPython too.

MicroPython's asyncio.open_connection hands back streams for a refused
connect; without hal.compat.open_connection's check the firmware would
count the request as sent and reverse a transaction the host never saw
(found on the virtual ARM handset: docs/HANDSET.md)."""

import socket

from tests.support import run_script

SCRIPT = """
import sys
sys.path.insert(0, '.')
from hal.compat import asyncio
from hal.errors import ModemError
from hal.sim.modem import SimModem

async def main():
    modem = SimModem()
    try:
        link = await modem.connect('127.0.0.1', %d, 3000)
    except ModemError as e:
        print('refused:', e)
        return
    link.close()
    print('opened')

asyncio.run(main())
"""


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connect_is_a_modem_error_not_an_open_link(micropython):
    out = run_script(micropython, SCRIPT % closed_port())
    assert out.startswith("refused:") and "ECONNREFUSED" in out


def test_an_open_port_still_connects(micropython):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        out = run_script(micropython, SCRIPT % server.getsockname()[1])
    assert out.strip() == "opened"
