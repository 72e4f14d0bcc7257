"""The printer contract, for every backend (sim, escpos over a pty)."""

import asyncio

import pytest

from firmware import texts
from hal.errors import DeviceError, PrinterError
from hal.printer import PAPER_OK, PAPER_OUT

JOB = b"\x1b@" + b"".join(b"line %02d of the receipt\n" % i for i in range(12)) + b"\x1bd\x04"


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def events_of(rig):
    seen = []
    rig.device.set_listener(seen.append)
    return seen


def test_a_job_reaches_the_paper_byte_for_byte(printer_rig):
    seen = events_of(printer_rig)
    run(printer_rig.device.print_job(JOB))
    assert printer_rig.printed() == JOB
    assert seen == []


def test_paper_out_mid_job_waits_then_resumes_without_a_line_twice(printer_rig):
    seen = events_of(printer_rig)
    printer_rig.paper_runs_out_after(100)

    async def job():
        printing = asyncio.ensure_future(printer_rig.device.print_job(JOB))
        while ("printer", PAPER_OUT) not in seen:
            assert not printing.done(), "the job ended without waiting for paper"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert not printing.done()
        printed_while_out = printer_rig.printed()
        assert len(printed_while_out) <= 100 and JOB.startswith(printed_while_out)
        printer_rig.load_paper()
        await printing

    run(job())
    assert printer_rig.printed() == JOB
    assert seen == [("printer", PAPER_OUT), ("printer", PAPER_OK)]


def test_a_job_started_without_paper_waits_and_can_be_cancelled(printer_rig):
    seen = events_of(printer_rig)
    printer_rig.remove_paper()

    async def job():
        printing = asyncio.ensure_future(printer_rig.device.print_job(JOB))
        await asyncio.sleep(0.15)
        assert not printing.done()
        printing.cancel()   # CANCEL: the merchant gives up on this slip
        with pytest.raises(asyncio.CancelledError):
            await printing

    run(job())
    assert printer_rig.printed() == b""
    assert seen == [("printer", PAPER_OUT)]


def test_an_open_cover_waits_like_paper_out(printer_rig):
    printer_rig.require("cover")
    seen = events_of(printer_rig)

    async def job():
        printer_rig.open_cover()
        printing = asyncio.ensure_future(printer_rig.device.print_job(JOB))
        await asyncio.sleep(0.1)
        assert not printing.done()
        printer_rig.close_cover()
        await printing

    run(job())
    assert printer_rig.printed() == JOB
    assert seen == [("printer", PAPER_OUT), ("printer", PAPER_OK)]


def _fails_clearly(rig, words):
    with pytest.raises(PrinterError) as caught:
        run(rig.device.print_job(JOB), timeout=5)
    message = str(caught.value)
    assert any(word in message for word in words), message
    assert isinstance(caught.value, DeviceError)
    assert caught.value.code in texts.MESSAGES  # the merchant sees a message, both languages
    return caught.value


def test_a_printer_that_never_answers_is_not_responding_not_a_hang(printer_rig):
    printer_rig.require("silent")
    printer_rig.silent()
    error = _fails_clearly(printer_rig, ["not responding"])
    assert error.code == "PRINTER_NO_ANSWER"


def test_a_garbled_status_reply_is_a_clear_error(printer_rig):
    printer_rig.require("garble")
    printer_rig.garble()
    _fails_clearly(printer_rig, ["garbage"])


def test_an_unplugged_printer_is_not_responding(printer_rig):
    printer_rig.require("unplug")
    printer_rig.unplug()
    _fails_clearly(printer_rig, ["not responding"])


def test_a_printer_offline_with_an_error_is_a_printer_error(printer_rig):
    printer_rig.require("error")
    printer_rig.fail()
    error = _fails_clearly(printer_rig, ["offline: error"])
    assert error.code == "PRINTER"
