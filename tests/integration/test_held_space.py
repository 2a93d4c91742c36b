"""Issue 12, item 2, end to end on loopback (manager/API.md, "Failures and
rebuilds"): "Space is freed only when nobody can write it any more." A leg
replaced while its volume is attached stays held for the head until the
head's rebuildMirror answer shows it dropped the leg, or until the head is
fenced; `--audit --head-records` checks the head agent's own records
against the database at every step."""
import http.server
import os
import sqlite3
import threading
import unittest
import xmlrpc.client

from harness import BIND_ERROR, BOUND, INSYNC, T_HSVR, legs_of, req, wait_for
import test_attach_agents as attach

T_PDSK = 3


class HeldSpace(attach.Base):
    """Four storage agents (one disk fails per test) and the head agent (host sim)."""
    agents_n = 4
    manager_args = ("--agent-timeout", "5")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        attach.WithHeadAgent.start_head.__func__(cls)

    def held(self):
        with sqlite3.connect("file:%s?mode=ro" % self.m.db, uri=True) as db:
            return db.execute("SELECT chunk_id, hsvr_id, lvol_id FROM held_extent ORDER BY chunk_id").fetchall()

    def doomed(self):
        with sqlite3.connect("file:%s?mode=ro" % self.m.db, uri=True) as db:
            return db.execute("SELECT chunk_id FROM doomed_leg ORDER BY chunk_id").fetchall()

    def records(self):
        return os.path.join(self.head.state_dir, "volumes")

    def assertAuditOK(self, head_records=True):
        code, out = self.m.audit([self.records()] if head_records else [])
        self.assertEqual((code, out.strip()), (0, "audit: OK"))

    def test_1_replaced_leg_is_held_until_the_rebuild_drops_it(self):
        v, _ = self.create(capacity=4)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        old = legs_of(self.api.showLogicalVolume(req(lvolid=v)))[0]
        self.assertAuditOK()
        self.assertEqual(self.api.notifyFailure(req(target=T_PDSK, targetid=old["lvolspec"]["pdskid"])), 0)
        self.assertTrue([e for e in self.api.listEvents(req(limit=10000))
                         if e["type"] == "replace" and "held until" in e["message"]])
        self.assertAuditOK()  # held or not yet released: never free under the head's leg

        def rebuilt():
            legs = legs_of(self.api.showLogicalVolume(req(lvolid=v)))
            return {x["mirror_status"] for x in legs} == {INSYNC} and old["lvolid"] not in {x["lvolid"] for x in legs}
        wait_for("the mirror rebuilt", rebuilt, 30)
        self.assertEqual(self.held(), [])
        self.assertTrue([e for e in self.events(v) if e["type"] == "released"])
        self.assertAuditOK()
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=v)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_2_a_silent_head_keeps_it_held_until_fenced(self):
        v, _ = self.create(capacity=4)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=self.h)), 0)
        old = legs_of(self.api.showLogicalVolume(req(lvolid=v)))[0]
        self.head.stop()  # cannot answer rebuildMirror: the old leg stays in its record
        self.assertEqual(self.api.notifyFailure(req(target=T_PDSK, targetid=old["lvolspec"]["pdskid"])), 0)
        self.assertEqual(self.held(), [(old["lvolid"], self.h, v)], self.api.listEvents(req(limit=10000))[-6:])
        self.assertAuditOK()
        # Fenced on every disk of every live server: nothing it had is writable.
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=self.h)), 0)
        self.assertEqual(self.held(), [])
        # Let go, but a head had it: doomed until its storage agent deletes
        # its thin device, never while its disk is FAULTY (API.md, "Thin
        # legs"). Still used, so the head's stale record overlaps nothing free.
        self.assertIn((old["lvolid"],), self.doomed())
        self.assertAuditOK()


class FakeHead:
    """A head agent that attaches, then answers detachLogicalVolume by
    dropping the connection (the answer is lost) and growLogicalVolume with
    an ETIMEDOUT fault (its kernel call timed out)."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                _, method = xmlrpc.client.loads(body)
                if method == "detachLogicalVolume":
                    self.close_connection = True
                    return
                if method == "growLogicalVolume":
                    out = xmlrpc.client.dumps(xmlrpc.client.Fault(110, "ETIMEDOUT"), methodresponse=True)
                else:
                    out = xmlrpc.client.dumps(("/dev/vastsky/fake",), methodresponse=True)
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/RPC2" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class UnknownOutcomes(attach.Base):
    """Issue 12, item 3: an outcome that is unknown (a kernel call on the
    head that timed out, a lost answer) leaves the volume ERROR with
    nothing freed."""
    agents_n = 2
    manager_args = ("--agent-timeout", "5")

    def test_lost_detach_answer_and_timed_out_grow_are_error(self):
        head = FakeHead()
        try:
            h = self.register_head("127.0.8.1", head.url, attach.IQN % 50)
            v, _ = self.create(capacity=4)
            self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=h)), 0)
            self.assertEqual(self.lvol(v)["bind_status"], BOUND)
            # The head may have grown the device: the volume keeps its new
            # size, ERROR, and the new legs are never nosync again.
            self.assertFault("ETIMEDOUT", self.api.resizeLogicalVolume, req(lvolid=v, capacity=8))
            row = self.lvol(v)
            self.assertEqual((row["bind_status"], row["capacity"]), (BIND_ERROR, 8))
            self.assertEqual({x["mirror_status"] for x in legs_of(self.api.showLogicalVolume(req(lvolid=v)))}, {INSYNC})
            w, _ = self.create(capacity=4)
            self.assertEqual(self.api.attachLogicalVolume(req(lvolid=w, hsvrid=h)), 0)
            # The head may have torn part of it down before the answer was lost.
            with self.assertRaises(xmlrpc.client.Fault):
                self.api.detachLogicalVolume(req(lvolid=w))
            self.assertEqual(self.lvol(w)["bind_status"], BIND_ERROR)
        finally:
            head.close()
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=h)), 0)


if __name__ == "__main__":
    unittest.main()
