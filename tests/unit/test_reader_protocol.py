"""The card-reader module's frames (hal/reader_protocol.py), byte for byte."""

import pytest
from hypothesis import given, strategies as st

from hal import reader_protocol as rp


def test_a_poll_frame_byte_for_byte():
    # STX, LEN 00 01, CMD 01, LRC = 00 ^ 01 ^ 01 = 00
    assert rp.encode_frame(rp.POLL) == bytes.fromhex("02 0001 FFFE 01") + bytes((0x00 ^ 0x01 ^ 0xFF ^ 0xFE ^ 0x01,))


def test_an_apdu_frame_byte_for_byte():
    frame = rp.encode_frame(rp.APDU, bytes.fromhex("00A40400"))
    assert frame == bytes.fromhex("02 0005 FFFA 02 00A40400") + bytes(
        (0x00 ^ 0x05 ^ 0xFF ^ 0xFA ^ 0x02 ^ 0x00 ^ 0xA4 ^ 0x04 ^ 0x00,))


@given(st.sampled_from(rp.COMMANDS), st.binary(max_size=300), st.binary(max_size=20))
def test_decode_reverses_encode_and_keeps_what_follows(command, data, rest):
    assert rp.decode_frame(rp.encode_frame(command, data) + rest) == (command, data, rest)


@given(st.sampled_from(rp.COMMANDS), st.binary(max_size=40))
def test_a_cut_frame_is_incomplete_never_wrong(command, data):
    frame = rp.encode_frame(command, data)
    for end in range(len(frame)):
        assert rp.decode_frame(frame[:end]) is None


def test_a_flipped_length_bit_is_caught_even_when_the_shorter_frame_has_a_good_lrc():
    # Found by the property below when the frame had no ~LEN: LEN 7 -> 5
    # made "42 93 D1 DB" + "DC"... a frame whose byte at the new LRC place
    # matched. The length check catches it now.
    frame = bytearray(rp.encode_frame(rp.APDU, b"B\x93\xd1\xdb\xdc\x00"))
    frame[2] ^= 2
    with pytest.raises(rp.FrameError):
        rp.decode_frame(bytes(frame))


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1))
def test_any_flipped_bit_is_caught(data, which):
    frame = bytearray(rp.encode_frame(rp.APDU, data))
    position = 1 + which % (len(frame) - 1)
    frame[position] ^= 1 << (which % 8)
    try:
        decoded = rp.decode_frame(bytes(frame))
    except rp.FrameError:
        return
    # A damaged byte is never taken for a good frame.
    assert decoded is None


def test_noise_before_a_frame_says_how_much_to_skip():
    with pytest.raises(rp.FrameError) as caught:
        rp.decode_frame(b"\xff\xfe" + rp.encode_frame(rp.POLL))
    assert caught.value.skip == 2


def test_a_length_out_of_range_is_refused():
    with pytest.raises(rp.FrameError):
        rp.decode_frame(bytes.fromhex("02 0000 FFFF 01 01"))
    with pytest.raises(ValueError):
        rp.encode_frame(rp.APDU, bytes(rp.MAX_LENGTH))


@pytest.mark.parametrize("payload, expected", [
    (b"\x00", (rp.EVENT_NONE, None)),
    (b"\x01" + b"6222021000000000017=30121010000000000", (rp.EVENT_SWIPE, "6222021000000000017=30121010000000000")),
    (b"\x01", (rp.EVENT_SWIPE, None)),
    (b"\x02\x00", (rp.EVENT_INSERT, True)),
    (b"\x02\x01", (rp.EVENT_INSERT, False)),
    (b"\x03", (rp.EVENT_TAP, None)),
    (b"\x04", (rp.EVENT_REMOVE, None)),
])
def test_poll_events(payload, expected):
    assert rp.decode_event(payload) == expected


def test_unknown_events_and_empty_answers_are_refused():
    with pytest.raises(ValueError):
        rp.decode_event(b"\x09")
    with pytest.raises(ValueError):
        rp.decode_event(b"")
    with pytest.raises(ValueError):
        rp.split_answer(b"")


def test_beep_and_led_data():
    assert rp.beep_data(300) == b"\x01\x2c"
    assert rp.led_data(2, True) == b"\x02\x01"
    with pytest.raises(ValueError):
        rp.beep_data(70000)
