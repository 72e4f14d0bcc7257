"""The journal measured from inside, run BY MicroPython or CPython (this
file runs under both unchanged):

    micropython journal_probe.py --path ROOT --data DIR --mode boot --rounds N
    micropython journal_probe.py --path ROOT --data DIR --mode append --rounds N

boot:   boots the firmware on simulated devices from the data folder (journal
        replay with its MAC chain, sale index, recovery; sign-on finds no
        host and gives up at once) up to the idle screen, then times the
        settlement totals of the current batch. Prints one line of JSON:
        {"boot_ms", "totals_ms", "batch", "heap_live", "heap_peak", "problems"}.
append: appends N records through the journal (durable), and the same
        frames with a bare write + fsync on a file kept open (the floor);
        also the keyed MAC alone. {"append_us", "floor_us", "mac_us"}.
"""

import gc
import json
import sys
import time

from probe_support import now_us, parse_args, us_since


def heap_peak():
    try:
        import micropython
        return micropython.mem_peak()
    except (ImportError, AttributeError):
        return None


def heap_live():
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    return gc.mem_alloc()


def boot(args):
    from hal.compat import asyncio
    from firmware.main import build_app
    # Port 9 (discard) on loopback: refused at once, so sign-on gives up
    # without a wait and the figure is the terminal's own work.
    settings = {"host_port": 9, "connect_timeout_ms": 1000, "reply_timeout_ms": 1000, "lang": "en"}
    started = now_us()
    app = build_app({"devices": {"storage": "dir:" + args["data"]}, "settings": settings})
    asyncio.run(app.boot())
    boot_us = us_since(started)
    state = app.state
    best = None
    for _ in range(int(args["rounds"])):
        started = now_us()
        totals = state.totals()
        took = us_since(started)
        best = took if best is None or took < best else best
    return {"boot_ms": boot_us / 1000, "totals_ms": best / 1000, "batch": totals["sale_count"],
            "heap_live": heap_live(), "heap_peak": heap_peak(), "problems": state.problems,
            "jumped": state.jumped_traces, "service": [p[0] for p in app.service_problems]}


def append(args):
    import os
    from firmware.journal import Journal, chain_mac, encode_frame, ZERO_MAC
    from hal.compat import file_syncer
    from hal.sim.keystore import SimKeyStore
    from hal.storage import DirStorage
    rounds = int(args["rounds"])
    storage = DirStorage(args["data"])
    keys = SimKeyStore(storage)
    journal = Journal(storage, name="append.dat", mac=keys.journal_mac)
    journal.load()
    record = {"k": "reply", "batch": 2, "trace": 1, "state": "approved", "rc": "00", "rrn": "000000000001",
              "auth": "123456", "host_date": "1201", "host_time": "120000"}
    payload = json.dumps(record).encode()
    frame = encode_frame(payload, 1, ZERO_MAC, keys.journal_mac)[0]
    # The floor appends to the journal's own file through a handle of its
    # own: two files would differ by more than 10 % on their own (measured:
    # two bare files interleaved, 1.13x apart), one file cannot. The chain
    # is broken by the foreign frames; this file is never loaded again.
    floor_path = args["data"] + "/append.dat"
    result = {"frame_bytes": len(frame)}
    # The floor is the bare system calls: write(2) of the frame and fsync(2)
    # (os.write where the interpreter has it; MicroPython's unbuffered file
    # write is the same call), no Python buffer and no lookup in between.
    os_write = getattr(os, "write", None)
    sync = file_syncer()
    with open(floor_path, "ab", buffering=0) as f:
        fd = f.fileno()
        for gap_ms, label in ((0, "busy"), (2, "spaced")):
            ours = []
            floor = []
            for n in range(rounds):
                # Interleaved (a disk busy for one is busy for both), in turns
                # first and second. "busy": back to back, as fast as the disk
                # goes; "spaced": 2 ms apart, as a terminal appends (a few
                # records a transaction, never thousands a second).
                for mine in ((True, False) if n % 2 else (False, True)):
                    if gap_ms:
                        time.sleep(gap_ms / 1000)
                    started = now_us()
                    if mine:
                        journal.append(record)
                        ours.append(us_since(started))
                    else:
                        if os_write is not None:
                            os_write(fd, frame)
                        else:
                            f.write(frame)
                        if sync is not None:
                            sync(fd)
                        floor.append(us_since(started))
            # Each append against the floor taken beside it in time: the
            # disk's own drift (other processes, its journal) cancels out.
            ratios = sorted(ours[n] / floor[n] for n in range(rounds) if floor[n])
            ours.sort()
            floor.sort()
            result[label] = {"append_us": ours[len(ours) // 2], "floor_us": floor[len(floor) // 2],
                             "pair_ratio": ratios[len(ratios) // 2]}
    journal.close()
    started = now_us()
    for _ in range(rounds):
        chain_mac(keys.journal_mac, ZERO_MAC, 1, payload)
    mac_us = us_since(started) / rounds
    os.remove(floor_path)
    result["mac_us"] = mac_us
    return result


def main():
    args = parse_args(sys.argv[1:], ("path", "data", "mode", "rounds"), "journal_probe.py")
    sys.path.insert(0, args["path"])
    result = boot(args) if args["mode"] == "boot" else append(args)
    print(json.dumps(result))


main()
