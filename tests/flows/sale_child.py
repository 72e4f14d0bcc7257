"""A handset process for the kill test: boots, starts a sale, waits.
Run as: python -m tests.flows.sale_child DATA_DIR HOST_PORT AMOUNT"""

import sys
import time

from emulator.handset import Handset
from tests.conftest import TEST_SETTINGS


def main():
    data, port, amount = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    handset = Handset(data, settings=dict(TEST_SETTINGS, host_port=port, reply_timeout_ms=60000))
    handset.start()
    handset.keys(amount)
    handset.enter()
    handset.wait_text("Swipe, insert or tap card")
    handset.card("swipe", "debit-mag")
    time.sleep(120)  # killed long before


if __name__ == "__main__":
    main()
