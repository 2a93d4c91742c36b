"""The transport: credentials, TLS, paths, HTTP methods, body sizes,
malformed bodies, startup refusals, SIGTERM and concurrent clients."""
import http.client
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest
import xmlrpc.client

from harness import (BIN_DIR, SECRET, Manager, ManagerCase, basic_auth, free_port, http_request, raw_call,
                     req)

CALL = xmlrpc.client.dumps((req(),), "getClusterStatus").encode()
LIMIT = 8 * 2 ** 20


def send_big_body(m, total, chunked=False, piece=2 ** 20):
    """Streams `total` bytes of body to /RPC2. Returns ("status", code) if the
    server answered, or ("reset", exc) if it closed the connection early."""
    conn = m.http(timeout=60)
    try:
        conn.putrequest("POST", "/RPC2")
        conn.putheader("Authorization", basic_auth())
        conn.putheader("Content-Type", "text/xml")
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(total))
        conn.endheaders()
        block = b"<" + b"a" * (piece - 1)
        sent = 0
        try:
            while sent < total:
                n = min(piece, total - sent)
                data = block[:n]
                conn.send(b"%x\r\n%s\r\n" % (n, data) if chunked else data)
                sent += n
            if chunked:
                conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout) as e:
            try:
                return ("status", conn.getresponse().status)
            except Exception:
                return ("reset", e)
        try:
            return ("status", conn.getresponse().status)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as e:
            return ("reset", e)
    finally:
        conn.close()


class Http(ManagerCase):
    cluster = {"servers": 3, "disks": 2}

    def assertAlive(self):
        self.assertEqual(self.m.proxy(timeout=20).getClusterStatus(req())["protocol"], 5)
        self.assertIsNone(self.m.proc.poll(), "the manager died")

    # -- credentials --
    def assert401(self, **kw):
        status, headers, _ = http_request(self.m, body=CALL, **kw)
        self.assertEqual(status, 401, kw)
        self.assertIn("www-authenticate", headers, "a 401 must say how to authenticate")
        self.assertTrue(headers["www-authenticate"].lower().startswith("basic"), headers["www-authenticate"])

    def test_no_credentials_401(self):
        self.assert401(user=None)

    def test_wrong_password_401(self):
        self.assert401(password=SECRET + "x")
        self.assert401(password=SECRET[:-1])
        self.assert401(password="")

    def test_wrong_user_401(self):
        self.assert401(user="root")
        self.assert401(user="Admin")
        self.assert401(user="")

    def test_malformed_authorization_401(self):
        for value in ("Basic", "Basic !!!notbase64", "Bearer " + SECRET, "Basic " + "QQ==" * 5000):
            status, _, _ = http_request(self.m, body=CALL, user=None, headers={"Authorization": value})
            self.assertEqual(status, 401, value[:40])
        self.assertAlive()

    def test_xmlrpc_client_with_wrong_password(self):
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            self.m.proxy(password="wrong-secret-0123456789").getClusterStatus(req())
        self.assertEqual(cm.exception.errcode, 401)

    def test_good_credentials(self):
        status, headers, data = http_request(self.m, body=CALL)
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/xml"), headers)
        self.assertEqual(xmlrpc.client.loads(data)[0][0]["protocol"], 5)

    # -- paths and methods --
    def test_root_path_is_rpc_too(self):
        self.assertEqual(self.m.proxy(path="/").getClusterStatus(req())["protocol"], 5)

    def test_other_methods_405(self):
        for method in ("GET", "PUT", "DELETE", "PATCH", "HEAD"):
            status, headers, _ = http_request(self.m, method=method, body=b"" if method in ("GET", "HEAD") else CALL)
            self.assertEqual(status, 405, method)
            self.assertIn("POST", headers.get("allow", ""), "405 without an Allow header (%s)" % method)

    def test_unknown_paths_404(self):
        for path in ("/foo", "/RPC3", "/RPC2/x", "/rpc2", "//RPC2", "/RPC2/../etc/passwd", "/%2e%2e/RPC2"):
            status, _, _ = http_request(self.m, path=path, body=CALL)
            self.assertEqual(status, 404, path)
        self.assertAlive()

    # -- bodies --
    def test_garbage_bodies(self):
        rng = random.Random(7)
        bodies = [bytes(rng.randrange(256) for _ in range(4096)), b"", b"<foo/>", b"not xml at all",
                  CALL[:len(CALL) // 2],
                  b"<?xml version='1.0'?><methodCall><methodName>getClusterStatus</methodName>"
                  b"<params><param><value><struct><member><name>ver</name><value><int>5</int>",
                  b"\xef\xbb\xbf" + CALL.replace(b"<int>5</int>", b"<int>5</int></value></value>")]
        for body in bodies:
            status, _, data = http_request(self.m, body=body)
            self.assertIn(status, (200, 400), body[:40])
            if status == 200:
                with self.assertRaises(xmlrpc.client.Fault, msg=repr(body[:40])) as cm:
                    xmlrpc.client.loads(data)
                self.assertEqual(cm.exception.faultCode, -503, body[:40])
            self.assertAlive()

    def test_body_just_under_limit_is_parsed(self):
        ips = ["10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(150000)]
        body = xmlrpc.client.dumps((req(ip_data=ips),), "registerHeadServer").encode()
        self.assertLess(len(body), LIMIT)
        self.assertGreater(len(body), LIMIT // 2)
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            raw_call(self.m, body)
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (22, "EINVAL"))

    def test_body_over_limit_413(self):
        kind, what = send_big_body(self.m, LIMIT + 1)
        if kind == "status":
            self.assertEqual(what, 413)
        self.assertAlive()

    def test_100mb_body(self):
        t0 = time.time()
        kind, what = send_big_body(self.m, 100 * 2 ** 20)
        if kind == "status":
            self.assertEqual(what, 413)
        self.assertLess(time.time() - t0, 60)
        self.assertAlive()

    def test_chunked_huge_body(self):
        kind, what = send_big_body(self.m, 20 * 2 ** 20, chunked=True)
        if kind == "status":
            self.assertIn(what, (413, 411), "a chunked body over 8 MiB must not be accepted")
        self.assertAlive()

    def test_lying_content_length(self):
        conn = self.m.http(timeout=10)
        conn.putrequest("POST", "/RPC2")
        conn.putheader("Authorization", basic_auth())
        conn.putheader("Content-Length", "1000")
        conn.endheaders()
        conn.send(CALL[:100])
        conn.close()
        for value in ("-1", "abc", "99999999999999999999999"):
            status, _, _ = http_request(self.m, body=CALL, headers={"Content-Length": value}, timeout=10)
            self.assertIn(status, (400, 411, 413), value)
        self.assertAlive()

    def test_stalled_clients_do_not_block_others(self):
        stalled = []
        for i in range(4):
            s = socket.create_connection(("127.0.0.1", self.m.port))
            s.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                      b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<?xml")
            stalled.append(s)
        try:
            t0 = time.time()
            self.assertAlive()
            self.assertLess(time.time() - t0, 5)
        finally:
            for s in stalled:
                s.close()

    def test_concurrent_clients(self):
        errors, created = [], []
        lock = threading.Lock()

        def worker(t):
            api = self.m.proxy(timeout=60)
            mine = []
            try:
                for i in range(50):
                    if i % 5 == 0:
                        mine.append(api.createLogicalVolume(req(lvolname="c%d-%d" % (t, i), capacity=1 + i % 3,
                                                                redundancy=2)))
                    elif i % 5 == 1:
                        self.assertEqual(api.showLogicalVolume(req(lvolid=mine[-1]))["lvolid"], mine[-1])
                    elif i % 5 == 2:
                        api.listLogicalVolumes(req())
                    elif i % 5 == 3 and len(mine) > 3:
                        self.assertEqual(api.deleteLogicalVolume(req(lvolid=mine.pop(0))), 0)
                    else:
                        api.getClusterStatus(req())
            except Exception as e:  # reported below
                errors.append("thread %d call %d: %r" % (t, i, e))
            with lock:
                created.extend(mine)

        before = self.status()["lvols"]
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        self.assertFalse(any(th.is_alive() for th in threads), "a client hung")
        self.assertEqual(errors, [])
        self.assertEqual(len(set(created)), len(created))
        names = {v["lvolid"] for v in self.api.listLogicalVolumes(req())}
        self.assertTrue(set(created) <= names)
        self.assertEqual(self.status()["lvols"], before + len(created))
        for lvolid in created:
            self.api.deleteLogicalVolume(req(lvolid=lvolid))

    def race(self, n, call):
        """Runs call(api) in n threads released at once; returns [(result or None, fault or None)]."""
        gate, out = threading.Barrier(n), []

        def run():
            api = self.m.proxy(timeout=60)
            gate.wait()
            try:
                out.append((call(api), None))
            except xmlrpc.client.Fault as f:
                out.append((None, (f.faultCode, f.faultString)))
        threads = [threading.Thread(target=run) for _ in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertEqual(len(out), n, "a racing call failed outside XML-RPC")
        return out

    def test_racing_creates_of_one_name(self):
        out = self.race(8, lambda api: api.createLogicalVolume(req(lvolname="race", capacity=2, redundancy=2)))
        ids = [r for r, _ in out if r is not None]
        self.assertEqual(len(ids), 1, out)
        self.assertEqual(sorted(f for _, f in out if f), [(17, "EEXIST")] * 7)
        self.assertEqual([v["lvolid"] for v in self.api.listLogicalVolumes(req(lvolname="race"))], ids)
        self.api.deleteLogicalVolume(req(lvolid=ids[0]))

    def test_racing_attaches_of_one_volume(self):
        heads = [self.api.registerHeadServer(req(ip_data=["127.101.0.%d" % i])) for i in range(1, 7)]
        lvolid = self.api.createLogicalVolume(req(lvolname="shared", capacity=1, redundancy=2))
        turn = iter(heads)
        lock = threading.Lock()

        def attach(api):
            with lock:
                h = next(turn)
            return api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=h))
        out = self.race(6, attach)
        self.assertEqual([r for r, _ in out if r is not None], [0], out)
        self.assertEqual(sorted(f for _, f in out if f), [(16, "EBUSY")] * 5)
        self.assertIn(self.api.listLogicalVolumes(req(lvolid=lvolid))[0]["hsvrid"], heads)
        self.api.detachLogicalVolume(req(lvolid=lvolid))
        self.api.deleteLogicalVolume(req(lvolid=lvolid))


class XmlBomb(ManagerCase):
    """A body with nested entities (billion laughs), on a manager of its own."""

    def test_entity_expansion_bomb(self):
        lol = "<!DOCTYPE m [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaa\">" + "".join(
            "<!ENTITY %s \"%s\">" % (chr(98 + i), ("&%s;" % chr(97 + i)) * 20) for i in range(8)) + "]>"
        body = ("<?xml version='1.0'?>" + lol + "<methodCall><methodName>createLogicalVolume</methodName>"
                "<params><param><value><struct><member><name>ver</name><value><int>5</int></value></member>"
                "<member><name>lvolname</name><value><string>&i;</string></value></member></struct></value>"
                "</param></params></methodCall>").encode()
        t0 = time.time()
        try:
            status, _, data = http_request(self.m, body=body, timeout=10)
        except socket.timeout:
            self.fail("no answer in 10 s to a body with nested entities (expanding them?)")
        self.assertLess(time.time() - t0, 10)
        self.assertIn(status, (200, 400))
        if status == 200:
            with self.assertRaises(xmlrpc.client.Fault):
                xmlrpc.client.loads(data)
        self.assertEqual(self.m.proxy(timeout=20).getClusterStatus(req())["protocol"], 5)


class Tls(ManagerCase):
    manager_kw = {"tls": True}

    def test_https_works(self):
        self.assertEqual(self.m.url()[:8], "https://")
        self.assertEqual(self.api.getClusterStatus(req())["protocol"], 5)
        status, _, _ = http_request(self.m, body=CALL, password="nope-nope-nope-nope")
        self.assertEqual(status, 401)

    def test_untrusted_client_is_refused_by_the_client(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.m.port, timeout=10,
                                           context=ssl.create_default_context())
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("POST", "/RPC2", body=CALL)
        conn.close()

    def test_plain_http_to_tls_port_fails(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.m.port, timeout=10)
        try:
            conn.request("POST", "/RPC2", body=CALL, headers={"Authorization": basic_auth()})
            status = conn.getresponse().status
            self.assertNotEqual(status, 200, "plain HTTP served on the TLS port")
        except (ConnectionError, http.client.HTTPException, socket.timeout, OSError):
            pass
        finally:
            conn.close()
        self.assertEqual(self.api.getClusterStatus(req())["protocol"], 5)


class Startup(unittest.TestCase):
    """How the daemon starts and stops."""

    def run_refused(self, argv):
        m = Manager()
        try:
            r = subprocess.run([os.path.join(BIN_DIR, "vastsky-manager"), "--db", m.db, "--secret-file",
                                m.secret_file] + argv, capture_output=True, text=True, timeout=20)
            return r.returncode, r.stdout + r.stderr
        finally:
            shutil.rmtree(m.dir, ignore_errors=True)

    def test_plain_http_on_routable_address_refused(self):
        for host in ("0.0.0.0", "[::]"):
            rc, out = self.run_refused(["--listen", "%s:%d" % (host, free_port())])
            self.assertNotEqual(rc, 0, "listened on %s without TLS" % host)
            self.assertTrue(out.strip(), "refused without saying why")
            self.assertRegex(out.lower(), "tls|loopback", out)

    def test_bad_secret_refused(self):
        m = Manager()
        try:
            with open(m.secret_file, "w") as f:
                f.write("short\n")
            rc = subprocess.run(m.argv(), capture_output=True, timeout=20).returncode
            self.assertNotEqual(rc, 0, "started with a 5-character secret")
            os.unlink(m.secret_file)
            rc = subprocess.run(m.argv(), capture_output=True, timeout=20).returncode
            self.assertNotEqual(rc, 0, "started without a secret file")
        finally:
            shutil.rmtree(m.dir, ignore_errors=True)

    def test_tls_on_any_address_allowed(self):
        with Manager(tls=True, listen_host="0.0.0.0") as m:
            self.assertEqual(m.proxy().getClusterStatus(req())["protocol"], 5)

    def test_sigterm_exits_0_promptly(self):
        with Manager() as m:
            m.proxy().getClusterStatus(req())
            idle = m.http(timeout=10)  # an idle keep-alive connection must not delay the exit
            idle.request("POST", "/RPC2", body=CALL, headers={"Authorization": basic_auth()})
            idle.getresponse().read()
            t0 = time.time()
            m.proc.send_signal(signal.SIGTERM)
            rc = m.proc.wait(20)
            self.assertLess(time.time() - t0, 5, "SIGTERM took too long")
            self.assertEqual(rc, 0)
            idle.close()


if __name__ == "__main__":
    unittest.main()
