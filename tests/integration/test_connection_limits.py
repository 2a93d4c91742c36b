"""Connection limits of the HTTP front against a real vastsky-manager
(manager/API.md, "Transport", "Connection limits"): credentials before the
body, a request's headers and body within 30 s, 10 s of silence closes,
and heartbeats keep getting through while 1,000 idle and 1,000 slowly
dripping connections are open.

The attackers connect from other loopback addresses (127.0.1.x, 127.0.2.x,
100 connections each) so that the per-address limit (128) does not refuse
them: the test loads the global limits, the threads and the deadline, not
only the per-address cap. Each connection the manager closes is reopened at
once, as a determined client would. The crowds run in processes of their
own, so the latency measured is the manager's, not this interpreter's."""
import multiprocessing
import resource
import selectors
import socket
import sys
import time
import unittest
import xmlrpc.client

from harness import Manager, basic_auth, req, stop_and_audit

IDLE, DRIP, PER_ADDRESS = 1000, 1000, 100
RUN_S = 34          # long enough to see dripping connections reach the 30 s deadline
DEADLINE_S, IDLE_S = 30, 10
DRIP_HEAD = ("POST /RPC2 HTTP/1.1\r\nHost: manager\r\nAuthorization: %s\r\nX-Pad: " % basic_auth()).encode()


def raise_open_files(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


def proc_status(pid):
    """Threads and VmRSS (KiB) of a process."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Threads", "VmRSS"):
                out[k] = int(v.split()[0])
    return out


class Crowd:
    """Holds `count` connections from 127.0.<net>.x to the manager, reopening
    each one the manager closes. With `drip`, sends one more header byte on
    every connection each second, never finishing the request. Records how
    long each closed connection had lived."""

    def __init__(self, port, net, count, drip):
        self.port, self.net, self.count, self.drip = port, net, count, drip
        self.lifetimes, self.refused = [], 0
        self.sent = {}   # socket -> bytes sent
        self.opened = {}  # socket -> time opened
        self.open_count = multiprocessing.Value("i", 0)
        self.results = multiprocessing.Queue()
        self.proc = None

    def start(self, stop):
        self.proc = multiprocessing.Process(target=self.run, args=(stop,))
        self.proc.start()

    def join(self):
        """Collects what the crowd's process saw."""
        self.lifetimes, self.refused = self.results.get(timeout=30)
        self.proc.join(10)

    def open_one(self, i):
        s = socket.socket()
        s.bind(("127.0.%d.%d" % (self.net, 1 + i // PER_ADDRESS), 0))
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError:
            self.refused += 1
            s.close()
            return
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, i)
        self.opened[s], self.sent[s] = time.monotonic(), 0

    def closed(self, s):
        self.lifetimes.append(time.monotonic() - self.opened.pop(s))
        self.sent.pop(s, None)
        i = self.sel.get_key(s).data
        self.sel.unregister(s)
        s.close()
        return i

    def run(self, stop):
        self.sel = selectors.DefaultSelector()
        for i in range(self.count):
            self.open_one(i)
        next_drip = time.monotonic() + 1
        while not stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.open_one(self.closed(key.fileobj))
            self.open_count.value = len(self.opened)
            if self.drip and time.monotonic() >= next_drip:
                next_drip += 1
                for s, n in list(self.sent.items()):
                    byte = DRIP_HEAD[n:n + 1] or b"a"
                    try:
                        s.send(byte)
                        self.sent[s] = n + 1
                    except OSError:
                        pass  # closed: select reports it
        for s in list(self.opened):
            self.sel.unregister(s)
            s.close()
        self.results.put((self.lifetimes, self.refused))

    def open_now(self):
        return self.open_count.value


class ConnectionLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise_open_files(4 * (IDLE + DRIP))  # the manager inherits it
        cls.m = Manager().start()
        cls.api = cls.m.proxy()

    @classmethod
    def tearDownClass(cls):
        stop_and_audit(cls.m)

    def test_credentials_are_checked_before_a_body_is_read(self):
        s = socket.create_connection(("127.0.0.1", self.m.port))
        s.settimeout(5)
        t0 = time.monotonic()
        s.sendall(("POST /RPC2 HTTP/1.1\r\nHost: m\r\nContent-Length: 1000000000000\r\nAuthorization: %s\r\n\r\n"
                   % basic_auth(password="wrong")).encode())
        answer = s.recv(4096)
        s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:100])
        self.assertLess(time.monotonic() - t0, 2.0)  # at once: no 1 TB body is awaited

    def test_heartbeats_keep_getting_through_while_1000_idle_and_1000_dripping_connections_are_open(self):
        ssvr = self.api.registerStorageServer(req(ip_data=["127.230.0.1"]))
        stop = multiprocessing.Event()
        idle = Crowd(self.m.port, 1, IDLE, drip=False)
        drip = Crowd(self.m.port, 2, DRIP, drip=True)
        for c in (idle, drip):
            c.start(stop)
        latencies, failures, peak, open_seen, slowest = [], [], {"Threads": 0, "VmRSS": 0}, [], []
        t0 = time.monotonic()
        try:
            for n in range(10 ** 6):
                if time.monotonic() - t0 >= RUN_S:
                    break
                start = time.monotonic()
                # A fresh connection per call, as an agent's after a restart;
                # every fifth call a registration, as a reconnecting agent's.
                try:
                    with self.m.proxy(timeout=10) as api:
                        if n % 5:
                            self.assertEqual(api.heartbeat(req(ssvrid=ssvr)), 0)
                        else:
                            self.assertEqual(api.registerStorageServer(req(ip_data=["127.230.0.1"], reconnect=True)),
                                             ssvr)
                    latencies.append(time.monotonic() - start)
                    slowest.append((latencies[-1], start - t0))
                except (OSError, xmlrpc.client.Error) as e:
                    failures.append(repr(e))
                for k, v in proc_status(self.m.proc.pid).items():
                    peak[k] = max(peak[k], v)
                open_seen.append(idle.open_now() + drip.open_now())
                time.sleep(0.2)
        finally:
            stop.set()
            for c in (idle, drip):
                c.join()
        latencies.sort()
        drip_lived = sorted(drip.lifetimes)
        idle_lived = sorted(idle.lifetimes)
        report = ("heartbeats and registrations %d ok, %d failed; latency median %.1f ms, p99 %.1f ms, max %.1f ms; "
                  "attackers open: min %d max %d; manager peak %d threads, %d MiB RSS; "
                  "dripping cut %d times after %.1f..%.1f s; idle cut %d times after %.1f..%.1f s; refused %d; "
                  "slowest calls (s, started at s): %s"
                  % (len(latencies), len(failures), 1000 * latencies[len(latencies) // 2],
                     1000 * latencies[int(len(latencies) * 0.99)], 1000 * latencies[-1],
                     min(open_seen[5:]), max(open_seen), peak["Threads"], peak["VmRSS"] // 1024,
                     len(drip_lived), drip_lived[0] if drip_lived else 0, drip_lived[-1] if drip_lived else 0,
                     len(idle_lived), idle_lived[0] if idle_lived else 0, idle_lived[-1] if idle_lived else 0,
                     idle.refused + drip.refused,
                     ", ".join("%.2f@%.0f" % x for x in sorted(slowest, reverse=True)[:4])))
        sys.stderr.write("\n" + report + "\n")
        self.assertEqual(failures, [], report)
        # Measured: max 0.8-2.1 s under ASan on 2 busy cores; far inside the
        # failure grace (60 s by default), which is what matters.
        self.assertLess(latencies[-1], 5.0, report)
        # Every attacker connection was held open at once (after the first second).
        self.assertGreaterEqual(min(open_seen[5:]), 0.95 * (IDLE + DRIP), report)
        # The dripping ones reached the deadline and no further (the sweep runs each second).
        self.assertGreaterEqual(len(drip_lived), 0.9 * DRIP, report)
        self.assertGreaterEqual(drip_lived[0], DEADLINE_S - 1, report)
        self.assertLessEqual(drip_lived[-1], DEADLINE_S + 5, report)  # + the sweep's second, + this side's lag
        # Silent ones were closed by the idle timeout, and reopened.
        self.assertGreaterEqual(len(idle_lived), IDLE, report)
        self.assertLessEqual(idle_lived[-1], IDLE_S + 5, report)


if __name__ == "__main__":
    unittest.main()
