"""The journal measured from inside, run BY MicroPython or CPython (this
file runs under both unchanged):

    micropython journal_probe.py --path ROOT --data DIR --mode boot --rounds N
    micropython journal_probe.py --path ROOT --data DIR --mode append --rounds N

boot:   boots the firmware on simulated devices from the data folder (journal
        replay with its MAC chain, sale index, recovery; sign-on finds no
        host and gives up at once) up to the idle screen, then times the
        settlement totals of the current batch. Prints one line of JSON:
        {"boot_ms", "totals_ms", "batch", "heap_live", "heap_peak", "problems"}.
append: appends N records through the journal (durable), N through the
        terminal (TerminalState.record: check, append, apply), and N ready
        frames through the storage's kept-open file, each beside the same
        frame with a bare write + fsync (the floor); the encoding alone,
        warm and just after an fsync; the keyed MAC alone.
        {"busy", "spaced", "busy_write", "spaced_write", "spaced_record",
        "encode_warm_us", "mac_us", "durable"}.
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


FIRST_TRACE = 100000   # the sales the terminal's step answers: traces of six digits


def side_by_side(ours, floor, rounds, gap_ms):
    """Time ours() and floor() in pairs, interleaved (a disk busy for one is
    busy for both), in turns first and second, `gap_ms` idle before each.
    -> {"append_us", "floor_us", "pair_ratio"}: medians; the ratio is the
    median of each of ours over the floor beside it in time, so the disk's
    own drift (other processes, its journal) cancels out."""
    ours_us = []
    floor_us = []
    for n in range(rounds):
        for mine in ((True, False) if n % 2 else (False, True)):
            if gap_ms:
                time.sleep(gap_ms / 1000)
            started = now_us()
            if mine:
                ours()
                ours_us.append(us_since(started))
            else:
                floor()
                floor_us.append(us_since(started))
    ratios = sorted(ours_us[n] / floor_us[n] for n in range(rounds) if floor_us[n])
    return {"append_us": median(ours_us), "floor_us": median(floor_us), "pair_ratio": ratios[len(ratios) // 2]}


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def append(args):
    import os
    from firmware.journal import Journal, chain_mac, encode_frame, ZERO_MAC
    from firmware.terminal import TerminalState
    from hal.compat import file_syncer, json_encoder
    from hal.sim.keystore import SimKeyStore
    from hal.storage import DirStorage
    rounds = int(args["rounds"])
    storage = DirStorage(args["data"])
    keys = SimKeyStore(storage)
    journal = Journal(storage, name="append.dat", mac=keys.journal_mac)
    state = TerminalState(journal).load()
    # The answer to a sale, as online.py journals it.
    record = {"k": "reply", "batch": 2, "trace": 1, "state": "approved", "rc": "00", "rrn": "000000000001",
              "auth": "123456", "host_date": "1201", "host_time": "120000"}
    payload = json.dumps(record).encode()
    frame = encode_frame(payload, 1, ZERO_MAC, keys.journal_mac)[0]
    # For the terminal's step: one sale opened (not timed) for each answer,
    # traces of one length, so that every answer's frame is as long.
    answers = []
    for n in range(rounds):
        trace = FIRST_TRACE + n
        state.record("txn", batch=2, trace=trace, type="sale", mti="0200", amount=100, state="sent",
                     time="20261201120000", op="01")
        answer = dict(record)
        del answer["k"]
        answer["trace"] = trace
        answers.append(answer)
    answer_frame = encode_frame(json.dumps(dict(answers[0], k="reply")).encode(), 1, ZERO_MAC,
                                keys.journal_mac)[0]
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
    kept = storage.open_append("append.dat")   # the storage's write path alone, for the note
    encode = json_encoder()

    with open(floor_path, "ab", buffering=0) as f:
        fd = f.fileno()

        def floor_of(frame):
            def floor():
                if os_write is not None:
                    os_write(fd, frame)
                else:
                    f.write(frame)
                if sync is not None:
                    sync(fd)
            return floor
        floor = floor_of(frame)

        def encoded():
            return encode_frame(encode(record), 1, ZERO_MAC, keys.journal_mac)

        # "busy": back to back, as fast as the disk goes; "spaced": 2 ms
        # apart, as a terminal appends (a few records a transaction, never
        # thousands a second).
        for gap_ms, label in ((0, "busy"), (2, "spaced")):
            result[label] = side_by_side(lambda: journal.append(record), floor, rounds, gap_ms)
            result[label + "_write"] = side_by_side(lambda: kept.append(frame), floor, rounds, gap_ms)
        # The terminal's whole step, as the flows take it: schema check,
        # append, state update; each answer to its own sale.
        unanswered = iter(answers)
        result["spaced_record"] = side_by_side(lambda: state.record("reply", **next(unanswered)),
                                               floor_of(answer_frame), rounds, 2)
        result["spaced_record"]["frame_bytes"] = len(answer_frame)
        # What the floor does not do, encoding (JSON, MAC, CRC, frame), timed
        # warm (back to back, no I/O) and as an append meets it: just after
        # an fsync ("busy"), and after an fsync and 2 ms idle ("spaced").
        warm = []
        for _ in range(rounds):
            started = now_us()
            encoded()
            warm.append(us_since(started))
        result["encode_warm_us"] = median(warm)
        for gap_ms, label in ((0, "busy"), (2, "spaced")):
            cold = []
            for _ in range(rounds):
                floor()
                if gap_ms:
                    time.sleep(gap_ms / 1000)
                started = now_us()
                encoded()
                cold.append(us_since(started))
            result[label]["encode_us"] = median(cold)
    kept.close()
    journal.close()
    started = now_us()
    for _ in range(rounds):
        chain_mac(keys.journal_mac, ZERO_MAC, 1, payload)
    mac_us = us_since(started) / rounds
    os.remove(floor_path)
    result["mac_us"] = mac_us
    result["durable"] = storage.durable
    return result


def main():
    args = parse_args(sys.argv[1:], ("path", "data", "mode", "rounds"), "journal_probe.py")
    sys.path.insert(0, args["path"])
    result = boot(args) if args["mode"] == "boot" else append(args)
    print(json.dumps(result))


main()
