#!/usr/bin/env python3
"""Tagged 4 KiB blocks for the snapshot test (tests/vmlab/snap.sh): each
block written says where it belongs and which generation it is, so a copy
read later tells which write it holds, and a torn or misplaced block shows.

  tagged.py run DEV LOG --positions N --stride BYTES --threads T
            --before S --after S  URL CA SECRET METHOD JSON
      T threads write generation 1, 2, ... of the N blocks (block k at
      k x stride + (k % 16) x 4 KiB; thread t owns k = t mod T), O_DIRECT,
      one write in flight per thread. After S seconds this process makes the
      XML-RPC call METHOD (in-process, so the window is the call's own,
      not a python start's); writers go on S more seconds, then stop.
      LOG (JSON) gets per block: `before`, the last generation acknowledged
      before the call started; `upto`, the last whose write began before
      the call returned; `final`, the last written. Prints the call's
      result and the writes in flight during the call.
  tagged.py check DEV LOG MODE [LABEL [PAUSE_MS]]
      Reads every block of LOG from DEV (O_DIRECT). MODE snap: each must
      hold a generation from `before` to `upto` (0, never written, only if
      `before` is 0), and with PAUSE_MS (the head's freeze to thaw) the
      copy must be one instant: the latest write held issued at most
      PAUSE_MS after the earliest write not held was acknowledged. MODE
      final: exactly `final`. Prints the counts.
  tagged.py scatter DEV LOG COUNT SEED
      COUNT single 4 KiB blocks at random 4 KiB offsets of DEV (a fixed
      seed), written with generation 1; LOG gets their offsets.
Exit 1 on any mismatch."""
import json
import mmap
import os
import random
import socket
import ssl
import struct
import sys
import threading
import time
import xmlrpc.client

BLOCK = 4096
MAGIC = b"VSTAGBLK"
RECORD = struct.Struct("<8sQQQ")   # magic, offset, generation, offset ^ generation


def fill(buf, offset, gen):
    rec = RECORD.pack(MAGIC, offset, gen, offset ^ gen)
    buf[:] = rec * (BLOCK // RECORD.size)


def parse(data, offset):
    """The block's generation, 0 if all zeros, or a string saying what is wrong."""
    if data.count(0) == BLOCK:
        return 0
    first = data[:RECORD.size]
    if first * (BLOCK // RECORD.size) != data:
        return "torn or foreign block"
    magic, off, gen, x = RECORD.unpack(first)
    if magic != MAGIC or x != off ^ gen:
        return "not a tagged block"
    if off != offset:
        return "block of offset %d found at %d" % (off, offset)
    return gen


def position(k, stride):
    return k * stride + (k % 16) * BLOCK


def rpc(url, ca, secret_file, method, members):
    secret = open(secret_file).read().strip()
    url = url.replace("://", "://admin:%s@" % secret, 1)
    socket.setdefaulttimeout(120)
    params = json.loads(members)
    params["ver"] = 5
    proxy = xmlrpc.client.ServerProxy(url, context=ssl.create_default_context(cafile=ca))
    try:
        return 0, getattr(proxy, method)(params)
    except xmlrpc.client.Fault as f:
        return 1, f.faultString
    except (OSError, xmlrpc.client.ProtocolError) as e:
        return 1, str(e)


def run(argv):
    dev, log = argv[0], argv[1]
    opts = dict(zip(argv[2:12:2], argv[3:12:2]))
    n, stride, nthreads = int(opts["--positions"]), int(opts["--stride"]), int(opts["--threads"])
    before_s, after_s = float(opts["--before"]), float(opts["--after"])
    call = argv[12:17]
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    window = [None, None]          # monotonic start and end of the call
    stop = threading.Event()
    state = [{"before": 0, "upto": 0, "final": 0, "times": [None]} for _ in range(n)]
    inflight = [0]
    errors = []

    def writer(t):
        buf = mmap.mmap(-1, BLOCK)
        gen = 0
        try:
            while not stop.is_set():
                gen += 1
                for k in range(t, n, nthreads):
                    if stop.is_set():
                        break
                    off = position(k, stride)
                    fill(buf, off, gen)
                    t0 = time.monotonic()
                    if os.pwrite(fd, buf, off) != BLOCK:
                        raise OSError("short write at %d" % off)
                    t1 = time.monotonic()
                    s = state[k]
                    s["final"] = gen
                    s["times"].append((t0, t1))   # times[gen]: issued, acknowledged
                    w0, w1 = window
                    if w0 is None or t1 < w0:
                        s["before"] = gen
                    if w1 is None or t0 < w1:
                        s["upto"] = gen
                    if w0 is not None and t1 >= w0 and (w1 is None or t0 < w1):
                        inflight[0] += 1
        except OSError as e:
            errors.append("thread %d: %s" % (t, e))
            stop.set()

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(nthreads)]
    for th in threads:
        th.start()
    try:   # the writers stop whatever happens here
        time.sleep(before_s)
        window[0] = time.monotonic()
        rc, result = rpc(*call)
        window[1] = time.monotonic()
        time.sleep(after_s)
    finally:
        stop.set()
    for th in threads:
        th.join()
    os.close(fd)
    json.dump({"positions": n, "stride": stride, "blocks": state, "call_s": window[1] - window[0]}, open(log, "w"))
    writes = sum(s["final"] for s in state)
    print("%s -> %s (rc %d) in %.2f s; %d writes of %d blocks by %d threads, %d of them in flight during the call"
          % (call[3], json.dumps(result), rc, window[1] - window[0], writes, n, nthreads, inflight[0]))
    if errors:
        print("write errors: " + "; ".join(errors))
    return 1 if rc or errors else 0


def check(argv):
    dev, log, mode = argv[0], argv[1], argv[2]
    label = argv[3] if len(argv) > 3 else dev
    pause_ms = int(argv[4]) if len(argv) > 4 else None
    d = json.load(open(log))
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)
    bad, at_before, later, zeros = [], 0, 0, 0
    held_start, unheld_ack = [], []   # the issue of each write held, the ack of the next one
    for k, s in enumerate(d["blocks"]):
        off = position(k, d["stride"])
        if os.preadv(fd, [buf], off) != BLOCK:
            bad.append("block %d: short read" % k)
            continue
        got = parse(bytes(buf), off)
        if isinstance(got, str):
            bad.append("block %d at %d: %s" % (k, off, got))
            continue
        if mode == "final":
            ok = got == s["final"]
            want = "%d" % s["final"]
        else:
            ok = s["before"] <= got <= s["upto"]
            want = "%d..%d" % (s["before"], s["upto"])
            at_before += ok and got == s["before"]
            if got:
                held_start.append(s["times"][got][0])
            if got + 1 < len(s["times"]):
                unheld_ack.append(s["times"][got + 1][1])
            later += ok and got > s["before"]
        zeros += got == 0
        if not ok:
            bad.append("block %d at %d: generation %d, expected %s" % (k, off, got, want))
    os.close(fd)
    n = len(d["blocks"])
    if mode == "final":
        print("%s: %d blocks checked, %d hold their last write, %d wrong" % (label, n, n - len(bad), len(bad)))
    else:
        print("%s: %d blocks checked: %d hold the last generation acknowledged before the snapshot, "
              "%d a later one in flight, %d never written, %d wrong" % (label, n, at_before, later, zeros, len(bad)))
    if mode == "snap" and held_start and unheld_ack:
        # One instant cut: every write held was issued before the thaw, every
        # write not held was acknowledged after the freeze began, so the
        # latest issue held and the earliest ack not held lie at most the
        # pause apart.
        spread = (max(held_start) - min(unheld_ack)) * 1000
        print("%s: one instant: the latest write held was issued %+.1f ms from the earliest ack of a write not "
              "held (at most the pause, %s ms)" % (label, spread, pause_ms))
        if pause_ms is not None and spread > pause_ms:
            bad.append("not one instant: %.1f ms between them, the head paused the volume %d ms" % (spread, pause_ms))
    for b in bad[:10]:
        print("  " + b)
    return 1 if bad else 0


def scatter(argv):
    dev, log, count, seed = argv[0], argv[1], int(argv[2]), int(argv[3])
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    size = os.lseek(fd, 0, os.SEEK_END)
    rnd = random.Random(seed)
    offs = sorted(set(rnd.randrange(size // BLOCK) * BLOCK for _ in range(count)))
    buf = mmap.mmap(-1, BLOCK)
    for off in offs:
        fill(buf, off, 1)
        if os.pwrite(fd, buf, off) != BLOCK:
            print("short write at %d" % off)
            return 1
    os.fsync(fd)
    os.close(fd)
    json.dump(offs, open(log, "w"))
    print("%d blocks of 4 KiB written at random over %d MiB" % (len(offs), size >> 20))
    return 0


if __name__ == "__main__":
    commands = {"run": run, "check": check, "scatter": scatter}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
