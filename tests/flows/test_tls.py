"""The link to the acquirer over TLS (settings host_tls, host_tls_pin):
the host simulator serves a certificate the test makes; a terminal that
trusts another one, or pins another hash, shows "Host certificate
rejected" and sends nothing."""

import pytest

from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.test_sale import recorded_requests
from tests.support import make_test_certificate, micropython_path, run_script

DEBIT = find_card("debit-mag")


@pytest.fixture
def certificate(tmp_path):
    (tmp_path / "host-cert").mkdir()
    return make_test_certificate(tmp_path / "host-cert")


@pytest.fixture
def other_certificate(tmp_path):
    (tmp_path / "other-cert").mkdir()
    return make_test_certificate(tmp_path / "other-cert")


@pytest.fixture
def host_options(certificate):
    cert, key, _ = certificate
    return {"tls_cert": cert, "tls_key": key}


@pytest.mark.parametrize("pinned", [False, True])
def test_sale_over_tls(make_handset, host, certificate, pinned):
    cert, _, digest = certificate
    handset = make_handset(host_tls=cert, host_tls_pin=digest if pinned else "")
    before = host.balance(DEBIT.pan)
    cashier.sale(handset, 777, "debit-mag")
    assert host.balance(DEBIT.pan) == before - 777


@pytest.mark.parametrize("trust, pin", [("other", ""), ("own", "00" * 32)])
def test_a_wrong_certificate_is_refused_on_screen(make_handset, host, certificate, other_certificate,
                                                  trust, pin):
    trusted = certificate[0] if trust == "own" else other_certificate[0]
    handset = make_handset(host_tls=trusted, host_tls_pin=pin)
    assert not handset.call(lambda: handset.app.signed_on)
    handset.keys("1000")
    handset.enter()
    handset.wait_text("Host certificate rejected")
    handset.wait_idle()
    assert recorded_requests(host.record_path, "0800") == []
    assert host.transactions() == []


def test_plain_tcp_to_a_tls_host_gets_nowhere(make_handset, host):
    handset = make_handset()
    assert not handset.call(lambda: handset.app.signed_on)
    assert recorded_requests(host.record_path, "0800") == []


MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, '')
from hal.compat import asyncio
from hal.sim.modem import SimModem
from hal.tls import HostTls, TlsError

async def attempt(trust, pin):
    try:
        link = await SimModem().connect('127.0.0.1', %(port)d, 5000, HostTls(trust, pin))
        await link.send(bytes(2))   # an empty frame: the host hangs up
    except TlsError as e:
        return 'rejected'
    link.close()
    return 'connected'

for trust, pin in (('%(cert)s', ''), ('%(cert)s', '%(digest)s'), ('%(other)s', ''), ('%(cert)s', '00' * 32)):
    print(asyncio.run(attempt(trust, pin)))
"""

MICROPYTHON = micropython_path()


@pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")
def test_micropython_verifies_the_host_certificate_and_its_pin(host, certificate, other_certificate):
    cert, _, digest = certificate
    script = MICROPYTHON_SCRIPT % {"port": host.port, "cert": cert, "digest": digest,
                                   "other": other_certificate[0]}
    assert run_script(MICROPYTHON, script).split() == ["connected", "connected", "rejected", "rejected"]
