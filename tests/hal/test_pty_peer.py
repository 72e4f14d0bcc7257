"""The pty peers keep answering in a long session: every emulated power cut
keeps its sockets open (as a real cut would leave them), so by the time the
contract suites run after the flow tests, descriptors are numbered past
1024, where select() cannot go. The peers wait with poll()."""

import os
import resource
import select
import socket

import pytest

from emulator.peripherals.pty import PtyPeer


class Echo(PtyPeer):
    def on_bytes(self, data):
        self.send(data.upper())


@pytest.fixture
def many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("the descriptor limit (%d) is below 2048" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held = [socket.socket() for _ in range(1100)]
    yield
    for s in held:
        s.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_peer_answers_with_descriptors_past_1024(many_descriptors):
    with Echo() as peer:
        assert peer._fd > 1024
        fd = os.open(peer.path, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"at\r")
            got = b""
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while len(got) < 3 and poller.poll(3000):
                got += os.read(fd, 16)
            assert got == b"AT\r"
        finally:
            os.close(fd)
