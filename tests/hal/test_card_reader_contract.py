"""The card reader contract, for every backend (sim, the module over a pty)."""

import asyncio

import pytest

from firmware import card as cards
from firmware import texts
from hal.card_reader import INSERT, REMOVE, SWIPE, TAP
from hal.errors import CardError
from hal.sim.deck import find_card

SELECT_PSE = bytes.fromhex("00A404000E315041592E5359532E444446303100")


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def watch(rig):
    seen = []
    rig.device.set_listener(lambda event: seen.append(event[1]))
    rig.device.start()
    return seen


def test_a_swipe_posts_its_track_2_once(reader_rig):
    async def go():
        seen = watch(reader_rig)
        reader_rig.hand.swipe("debit-mag")
        await reader_rig.settle()
        assert [e.action for e in seen] == [SWIPE]
        assert seen[0].track2 == find_card("debit-mag").track2
        assert cards.parse_track2(seen[0].track2).pan == find_card("debit-mag").pan

    run(go())


def test_a_garbled_swipe_is_a_read_error_above_the_hal(reader_rig):
    async def go():
        seen = watch(reader_rig)
        reader_rig.hand.swipe("garbled")
        await reader_rig.settle()
        with pytest.raises(cards.CardDataError):
            cards.parse_track2(seen[0].track2)

    run(go())


def test_an_inserted_chip_answers_apdus_and_removal_is_seen(reader_rig):
    async def go():
        seen = watch(reader_rig)
        reader_rig.hand.insert("chip-pin")
        await reader_rig.settle()
        assert [e.action for e in seen] == [INSERT] and seen[0].error is None
        assert reader_rig.device.card_present()
        response = await reader_rig.device.transceive(SELECT_PSE)
        assert response[-2:] == b"\x90\x00"
        reader_rig.hand.remove()
        await reader_rig.settle()
        assert seen[-1].action == REMOVE and not reader_rig.device.card_present()
        with pytest.raises(CardError):
            await reader_rig.device.transceive(SELECT_PSE)

    run(go())


def test_a_whole_chip_read_works_through_the_backend(reader_rig):
    async def go():
        watch(reader_rig)
        reader_rig.hand.insert("chip-pin")
        await reader_rig.settle()
        data = await cards.read_chip(reader_rig.device, 100, (2026, 11, 22, 10, 0, 0))
        assert data.pan == find_card("chip-pin").pan

    run(go())


def test_a_card_without_chip_reports_no_chip(reader_rig):
    async def go():
        seen = watch(reader_rig)
        reader_rig.hand.insert("debit-mag")
        await reader_rig.settle()
        assert seen[0].action == INSERT and seen[0].error == "NO_CHIP"

    run(go())


def test_a_tap_is_seen_and_a_mute_chip_is_a_card_error(reader_rig):
    async def go():
        seen = watch(reader_rig)
        reader_rig.hand.tap("credit-chip", fault="mute")
        await reader_rig.settle()
        assert seen[0].action == TAP
        with pytest.raises(CardError):
            await reader_rig.device.transceive(SELECT_PSE)

    run(go())


def test_an_apdu_that_is_not_bytes_is_refused(reader_rig):
    with pytest.raises(TypeError):
        run(reader_rig.device.transceive("00A4"))


def _chip_in_then(rig, fault):
    async def go():
        watch(rig)
        rig.hand.insert("chip-pin")
        await rig.settle()
        fault()
        with pytest.raises(CardError) as caught:
            await rig.device.transceive(SELECT_PSE)
        assert caught.value.code in texts.MESSAGES
        return str(caught.value)

    return run(go(), timeout=8)


def test_a_module_that_never_answers_is_a_card_error_not_a_hang(reader_rig):
    reader_rig.require("silent")
    assert "not responding" in _chip_in_then(reader_rig, reader_rig.silent)


def test_a_damaged_answer_frame_is_a_card_error(reader_rig):
    reader_rig.require("garble")
    assert "damaged" in _chip_in_then(reader_rig, reader_rig.garble)


def test_an_unplugged_module_is_a_card_error(reader_rig):
    reader_rig.require("unplug")
    assert "gone" in _chip_in_then(reader_rig, reader_rig.unplug)


def test_the_base_bounds_a_hanging_backend():
    """The APDU timeout lives in CardReader.transceive, once for every backend."""
    from hal.card_reader import CardReader

    class Hanging(CardReader):
        apdu_timeout_ms = 50

        async def _transceive(self, apdu):
            await asyncio.sleep(3600)

    with pytest.raises(CardError) as caught:
        run(Hanging().transceive(SELECT_PSE))
    assert "50 ms" in str(caught.value)


def test_a_cancelled_exchange_leaves_the_reader_usable(reader_rig):
    """CANCEL while an APDU is on its way: the next exchange gets its own answer."""
    async def go():
        watch(reader_rig)
        reader_rig.hand.insert("chip-pin")
        await reader_rig.settle()
        exchange = asyncio.ensure_future(reader_rig.device.transceive(SELECT_PSE))
        await asyncio.sleep(0)
        exchange.cancel()
        with pytest.raises(asyncio.CancelledError):
            await exchange
        await asyncio.sleep(0.05)
        get_atc = bytes.fromhex("80CA9F3600")     # GET DATA: the application transaction counter
        response = await reader_rig.device.transceive(get_atc)
        assert response[:2] == b"\x9f\x36" and response[-2:] == b"\x90\x00", response.hex()

    run(go())
