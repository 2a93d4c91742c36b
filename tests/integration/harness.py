"""Starts a real vastsky-manager on loopback for a test and tears it down.

Every integration test talks to the real daemon over a real socket:
    with Manager() as m:
        api = m.proxy()                 # xmlrpc.client.ServerProxy with credentials
        api.createLogicalVolume({"ver": 5, "lvolname": "a", "capacity": 10})
The binary is build-asan/bin/vastsky-manager when VASTSKY_BIN_DIR says so
(make check does), else build/bin.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import xmlrpc.client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("VASTSKY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
SECRET = "test-secret-0123456789abcdef"
VER = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Manager:
    """A manager process with its own temp dir (db, secret, log)."""

    def __init__(self, extra_args=(), tls=False, workdir=None, chunk_size=None):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="vastsky-it-")
        self.db = os.path.join(self.dir, "state.db")
        self.secret_file = os.path.join(self.dir, "secret")
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(self.secret_file, 0o600)
        self.port = free_port()
        self.tls = tls
        self.extra_args = list(extra_args)
        if chunk_size:
            self.extra_args += ["--chunk-size", chunk_size]
        self.proc = None
        self.log_path = os.path.join(self.dir, "manager.log")
        if tls:
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", self.key, "-out", self.cert, "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def url(self, user="admin", password=SECRET, path="/RPC2"):
        cred = "" if user is None else "%s:%s@" % (user, password)
        return "%s://%s127.0.0.1:%d%s" % (self.scheme, cred, self.port, path)

    def argv(self):
        a = [os.path.join(BIN_DIR, "vastsky-manager"), "--db", self.db,
             "--listen", "127.0.0.1:%d" % self.port, "--secret-file", self.secret_file]
        if self.tls:
            a += ["--tls-cert", self.cert, "--tls-key", self.key]
        return a + self.extra_args

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("manager exited with %s; log:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("manager did not listen within %ss" % timeout)

    def proxy(self, **kw):
        ctx = None
        if self.tls:
            import ssl
            ctx = ssl.create_default_context(cafile=self.cert)
        return xmlrpc.client.ServerProxy(self.url(**kw), allow_none=False, context=ctx)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the process; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("manager ignored signal %s for %ss" % (sig, timeout))
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def audit(self):
        """Runs `vastsky-manager --db X --audit`; returns (exit code, output)."""
        r = subprocess.run([os.path.join(BIN_DIR, "vastsky-manager"), "--db", self.db, "--audit"],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if rc not in (0, None) and exc[0] is None:
            raise AssertionError("manager exited with %s (sanitizer report?)" % rc)


def make_cluster(api, servers=4, disks=3, sectors=str(200 * 2**21), domains=None):
    """Registers servers x disks (200 GiB each by default); returns (ssvrids, pdskids)."""
    ssvrs, pdsks = [], []
    for i in range(servers):
        req = {"ver": VER, "ip_data": ["127.200.%d.%d" % (i // 250, i % 250 + 1)]}
        if domains:
            req["domain"] = domains[i % len(domains)]
        s = api.registerStorageServer(req)
        ssvrs.append(s)
        for d in range(disks):
            pdsks.append(api.registerPhysicalDisk({"ver": VER, "ssvrid": s,
                                                   "local_path": "/dev/disk/by-id/disk-%d-%d" % (i, d),
                                                   "capacity": sectors}))
    return ssvrs, pdsks
