"""--record: every frame the host receives or sends, one line each:

    <ISO local time> <in|out> <hex of the whole frame, length prefix included>

flushed per line so that a crashed run still leaves its traffic behind.
The file holds test PANs and PIN blocks encrypted under test keys, never a
clear PIN (the host never has one to write): it is test material from the
host's side of the wire.
"""

import binascii
import datetime


class FrameRecorder:
    def __init__(self, path):
        self.path = str(path)
        self._file = open(self.path, "a", encoding="ascii")

    def write(self, direction, frame):
        if direction not in ("in", "out"):
            raise ValueError("direction is 'in' or 'out', not %r" % (direction,))
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        self._file.write("%s %s %s\n" % (stamp, direction, binascii.hexlify(frame).decode()))
        self._file.flush()

    def close(self):
        self._file.close()


def read_record(path):
    """[(iso_time, direction, frame_bytes)] from a --record file."""
    frames = []
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            stamp, direction, hex_frame = line.split(" ")
            frames.append((stamp, direction, binascii.unhexlify(hex_frame)))
    return frames
