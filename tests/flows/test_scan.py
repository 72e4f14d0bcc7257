"""A day at the counter on a keyed terminal, then a search for secrets
(issue 13): the data directory, the log, the receipts, every screen shown
and the test protocol's replies hold no key in clear, no full card number,
no track and no PIN; and with only the data directory, nobody unseals the
journal's card numbers or decrypts the PIN blocks that went on the wire.

On the old main, keystore.json held the master key and the data key in
clear in the data directory: every sealed card number was unsealed and
every PIN block decrypted from it."""

import io
import os
import re

import pytest

from firmware import testproto
from hal import crypto
from hal.linux.keystore import FileKeyStore
from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.test_keys import BENCH_TMK
from tests.flows.test_sale import recorded_requests
from tests.flows.test_settle_reprint import settle

TripleDES = pytest.importorskip("cryptography.hazmat.decrepit.ciphers.algorithms").TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes  # noqa: E402

CARDS = {"debit-mag": None, "debit-pin": "123456", "chip-pin": "888888", "credit-chip": None}
HEX_RUN = re.compile(rb"[0-9A-Fa-f]{32,}")


@pytest.fixture
def host_options():
    return {"master_key": BENCH_TMK}


@pytest.fixture
def day(tmp_path, make_handset, host):
    """-> (handset, data dir, log text, screens, test-protocol replies,
    the journal's sealed card numbers before settlement) after a day: sales of every kind, a void, a refund, a reversal, a
    settlement. The key file lies IN the data directory (encrypted); the
    KEK on another 'partition'."""
    data = tmp_path / "handset"
    data.mkdir()
    secure = tmp_path / "secure"
    secure.mkdir()
    (secure / "kek").write_bytes(os.urandom(16))
    keys = data / "keys.json"
    FileKeyStore(str(keys), str(secure / "kek")).inject_master_key(BENCH_TMK)
    log = io.StringIO()
    handset = make_handset(start=False, data_dir=data, test_keys=False, test_protocol=True,
                           devices={"keystore": "file:%s?kek=%s" % (keys, secure / "kek")})
    handset.log_stream = log
    handset.start()
    screens = []
    display = handset.app.devices.display
    shown = display.show

    def recording_show(title, lines):
        screens.append(title + "\n" + "\n".join(lines))
        return shown(title, lines)

    display.show = recording_show
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    cashier.sale(h, 2000, "debit-pin", pin="123456")
    cashier.sale(h, 3000, "chip-pin", action="insert", pin="888888")
    cashier.sale(h, 1500, "credit-chip", action="tap")
    cashier.void(h, cashier.last_txn(h)["trace"], card="credit-chip", action="tap")
    sale = [t for t in h.journal() if t["amount"] == 1000][0]
    t = h.app.devices.clock.now()
    cashier.refund(h, sale["rrn"], "%02d%02d" % (t[1], t[2]), 400)
    host.faults.add("no_reply", mti="0200")
    cashier.sale(h, 700, "debit-pin", pin="123456", expect="No host reply")
    sealed = h.call(lambda: [bytes.fromhex(t["pan_sealed"]) for t in h.app.state.batch_txns()
                             if t.get("pan_sealed")])
    settle(h)
    replies = []
    for op in ({"op": "screen"}, {"op": "journal"}, {"op": "printout"}, {"op": "hello"}):
        replies.append(repr(h.run(testproto.handle(h.driver, dict(op, id=1)))))
    return h, data, log.getvalue(), screens, replies, sealed


def secrets(handset, host, kek):
    """name -> bytes of every key, card number, track and PIN of the day."""
    found = {"TMK": BENCH_TMK, "KEK": kek}
    row = host.terminal(handset.app.settings.terminal_id)
    for slot in ("pin_key", "mac_key", "track_key"):
        found[slot] = bytes(row[slot])
    store = handset.app.devices.keystore
    found["data_key"] = store._key("data_key")
    found["journal_key"] = store._key("journal_key")
    for name, pin in CARDS.items():
        card = find_card(name)
        found[name + " PAN"] = card.pan.encode()
        found[name + " track"] = card.track2.encode()
        found[name + " track BCD"] = card.track2.replace("=", "D").encode()
        if pin:
            found[name + " PIN block"] = crypto.pin_block_format0(pin, card.pan)
    for request in recorded_requests(host.record_path, "0200"):
        if 52 in request:
            found["PIN block on the wire %s" % request[11]] = request[52]
    return found


def forms(value):
    """How a secret could show: raw, and in hex either case."""
    out = [value]
    if not value.isascii() or not value.decode().replace("=", "").isdigit():
        out += [value.hex().encode(), value.hex().upper().encode()]
    return out


def test_nothing_secret_anywhere_after_a_day(day, host, tmp_path):
    handset, data, log, screens, replies, _ = day
    kek = (tmp_path / "secure" / "kek").read_bytes()
    places = {"log": log.encode(), "screens": "\n".join(screens).encode(), "replies": "\n".join(replies).encode()}
    for index, (_, slip) in enumerate(handset.printout()):
        places["receipt %d" % index] = slip
    for name, content in stored_files(data):
        places["data/" + name] = content
    assert len(screens) > 50 and len(places) > 10
    leaks = []
    for secret_name, value in secrets(handset, host, kek).items():
        for form in forms(value):
            for place, content in places.items():
                if form in content:
                    leaks.append("%s in %s" % (secret_name, place))
    assert leaks == []
    for pin in set(p for p in CARDS.values() if p):
        for place in ("log", "screens", "replies"):
            assert pin.encode() not in places[place], "PIN %s in %s" % (pin, place)


def stored_files(data):
    """(name relative to the data folder, bytes) of every file it holds,
    in its folders too (sig/: the e-signatures)."""
    for folder, _dirs, files in os.walk(data):
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                yield os.path.relpath(path, data), f.read()


def candidate_keys(data):
    """Every 16-byte string the data directory holds: raw windows of every
    file and every run of hex digits, at every offset."""
    found = set()
    for _name, content in stored_files(data):
        for i in range(len(content) - 15):
            found.add(content[i:i + 16])
        for run in HEX_RUN.findall(content):
            for i in range(0, len(run) - 31):
                try:
                    found.add(bytes.fromhex(run[i:i + 32].decode()))
                except ValueError:
                    pass
    return found


def tdes_decrypt_block(key, block):
    decryptor = Cipher(TripleDES(key), modes.ECB()).decryptor()
    return decryptor.update(block) + decryptor.finalize()


def test_the_data_directory_alone_unseals_nothing(day, host):
    handset, data, _, _, _, sealed = day
    pin_blocks = [r[52] for r in recorded_requests(host.record_path, "0200") if 52 in r]
    assert sealed and pin_blocks
    candidates = candidate_keys(data)
    assert len(candidates) > 1000
    unsealed = decrypted = 0
    for key in candidates:
        for blob in sealed:
            # A sealed PAN: IV + 3DES-CBC; its first block decrypts to digits.
            first = bytes(a ^ b for a, b in zip(tdes_decrypt_block(key, blob[8:16]), blob[:8]))
            if first.isdigit():
                unsealed += 1
        for block in pin_blocks:
            clear = tdes_decrypt_block(key, block)
            if any(clear == crypto.pin_block_format0(pin, find_card(name).pan)
                   for name, pin in CARDS.items() if pin):
                decrypted += 1
    assert (unsealed, decrypted) == (0, 0)
    # The same attempt with the key store's own data key does unseal: the
    # search above would have found it had it been there.
    data_key = handset.app.devices.keystore._key("data_key")
    first = bytes(a ^ b for a, b in zip(tdes_decrypt_block(data_key, sealed[0][8:16]), sealed[0][:8]))
    assert first.isdigit()


def test_the_search_unseals_what_the_old_layout_kept(tmp_path):
    """The control: the old main's keystore.json (master and data key in
    clear in the data directory) gives the search its key at once."""
    import json
    data_key = os.urandom(16)
    (tmp_path / "keystore.json").write_text(json.dumps({"master_key": BENCH_TMK.hex(),
                                                        "data_key": data_key.hex()}))
    iv = os.urandom(8)
    pan = find_card("debit-mag").pan.encode()
    sealed = iv + crypto.cbc_encrypt(data_key, pan + b"\x80" + bytes(7 - len(pan) % 8), iv)
    hits = [key for key in candidate_keys(tmp_path)
            if bytes(a ^ b for a, b in zip(tdes_decrypt_block(key, sealed[8:16]), iv)).isdigit()]
    assert data_key in hits
