"""The update protocol's frames: golden bytes, a splitter that finds frames
and test-protocol lines however the bytes arrive, damage detected."""

import json
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from firmware.update import proto


def test_json_frame_golden_bytes():
    frame = proto.encode_json({"op": "hello"})
    payload = b'{"op": "hello"}'
    body = b"J" + len(payload).to_bytes(4, "big") + payload
    assert frame == b"\x01" + body + zlib.crc32(body).to_bytes(4, "big")
    assert frame.hex() == "014a000000" + "0f" + payload.hex() + "%08x" % zlib.crc32(body)


def test_chunk_frame_golden_bytes():
    frame = proto.encode_chunk(0x01020304, b"abc")
    # offset | SHA-256("abc") (FIPS 180-2) | data
    payload = bytes.fromhex("01020304" "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") + b"abc"
    assert frame[:6] == b"\x01C" + len(payload).to_bytes(4, "big")
    assert frame[6:-4] == payload
    assert proto.decode_chunk(payload) == (0x01020304, b"abc")


def test_a_chunk_whose_data_does_not_match_its_hash_is_refused():
    payload = bytearray(proto.encode_chunk(8192, b"x" * 100)[6:-4])
    payload[-1] ^= 1
    with pytest.raises(proto.FrameError, match="offset 8192 damaged"):
        proto.decode_chunk(bytes(payload))


def test_a_frame_with_a_bad_crc_is_reported_not_used():
    frame = bytearray(proto.encode_json({"op": "hello"}))
    frame[10] ^= 0x20
    assert proto.PortSplitter().feed(bytes(frame)) == [("bad", "frame damaged (CRC): send it again")]


def test_soh_without_a_known_kind_and_length_is_a_test_protocol_line():
    # garbage on the test protocol that starts with SOH is answered as a bad line, as before
    assert proto.PortSplitter().feed(b"\x01Z\x00\x00\x00\x01{}\n") == [("line", b"\x01Z\x00\x00\x00\x01{}")]
    assert proto.PortSplitter().feed(b"\x01J\xff\xff\xff\xff\n\n") == [("line", b"\x01J\xff\xff\xff\xff"),
                                                                         ("line", b"")]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.binary(min_size=0, max_size=300).map(lambda b: ("chunk", b)),
                          st.sampled_from([b'{"id": 1, "op": "hello"}', b"junk", b""]).map(lambda l: ("line", l))),
                max_size=6),
       st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=20))
def test_frames_and_lines_come_out_whole_however_the_bytes_arrive(messages, cuts):
    stream = b""
    expected = []
    for kind, value in messages:
        if kind == "chunk":
            stream += proto.encode_chunk(len(stream), value)
            expected.append(("frame", b"C"))
        else:
            stream += value + b"\n"
            expected.append(("line", value))
    splitter = proto.PortSplitter()
    got = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        got.extend(splitter.feed(stream[pos:pos + step]))
        pos += step
        i += 1
    assert [(m[0], m[1] if m[0] == "frame" else m[1]) for m in got] == expected


def test_a_frame_payload_may_hold_newlines_and_soh():
    data = b"\n\x01\n{" * 50
    messages = proto.PortSplitter().feed(proto.encode_chunk(0, data) + b'{"id": 2, "op": "hello"}\n')
    assert messages[0][0] == "frame" and proto.decode_chunk(messages[0][2]) == (0, data)
    assert messages[1] == ("line", b'{"id": 2, "op": "hello"}')
    assert json.loads(messages[1][1])["id"] == 2
