"""ACL reconciliation (agents/PROTOCOL.md, "What the manager does"): "at
each registration of a storage server the manager compares the agent's ACLs
(listExports) with its own view and revokes the rest", so a fence that
skipped a server that was OFFLINE holds once that server is back, and an
ACL the manager never granted goes at the next registration. Real storage
agents (target sim) and head agents (host sim)."""
import unittest

from harness import T_HSVR, T_SSVR, HeadAgent, req, wait_for
from test_attach_agents import Base

IQN_A = "iqn.2024-01.org.example:fenced-head"
IQN_B = "iqn.2024-01.org.example:live-head"
IQN_STRAY = "iqn.2024-01.org.example:never-granted"
CHAP = {"chap_user": "stray", "chap_secret": "stray-secret-01"}


class AclReconcile(Base):
    agents_n = 2

    def start_head(self, ip, initiator):
        head = HeadAgent(self.m, ip, initiator)
        self.heads.append(head)
        head.start()
        url = head.url(user=None)
        return head, wait_for("the head " + initiator,
                              lambda: [h["hsvrid"] for h in self.api.listHeadServers(req()) if h["url"] == url])[0]

    def ssvr_of(self, agent):
        url = agent.url(user=None)
        return [s["ssvrid"] for s in self.api.listStorageServers(req()) if s["url"] == url][0]

    @staticmethod
    def exported(agent):
        """{initiator: set of pdskids} on one storage agent."""
        out = {}
        for e in agent.proxy().listExports(req()):
            for i in e["initiators"]:
                out.setdefault(i, set()).add(e["pdskid"])
        return out

    def attach(self, hsvr):
        v = self.api.createLogicalVolume(req(lvolname="acl-%d" % hsvr, capacity=1, redundancy=2))
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=v, hsvrid=hsvr)), 0)
        return v

    def test_1_fence_missed_while_offline_holds_after_restart(self):
        head_a, a = self.start_head("127.0.8.1", IQN_A)
        _, b = self.start_head("127.0.8.2", IQN_B)
        self.attach(a)
        self.attach(b)  # redundancy 2 over 2 servers: legs on both
        offline = self.agents[0]
        self.assertIn(IQN_A, self.exported(offline))
        self.assertEqual(offline.stop(), 0)
        self.assertEqual(self.api.notifyFailure(req(target=T_SSVR, targetid=self.ssvr_of(offline))), 0)
        self.assertEqual(head_a.stop(), 0)
        # The fence skips the OFFLINE server: the head counts as fenced.
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=a)), 0)
        self.assertNotIn(IQN_A, self.exported(self.agents[1]))
        offline.start()  # restores its persisted ACLs, head A's among them
        wait_for("head A's ACL revoked on the restarted server",
                 lambda: IQN_A not in self.exported(offline), timeout=15)
        # What the manager grants stays: head B's volume has a leg there.
        self.assertIn(IQN_B, self.exported(offline))
        self.assertIn("revoked " + IQN_A, self.m.read_log())

    def test_2_acl_never_granted_goes_at_next_registration(self):
        agent = self.agents[1]
        p = agent.proxy()
        pdsk = p.listExports(req())[0]["pdskid"]
        self.assertEqual(p.allowInitiator(req(opid="by-hand-1", pdskid=pdsk, initiator=IQN_STRAY, **CHAP)), 0)
        self.assertIn(IQN_STRAY, self.exported(agent))
        self.assertEqual(agent.stop(), 0)
        agent.start()
        wait_for("the stray ACL revoked", lambda: IQN_STRAY not in self.exported(agent), timeout=15)


if __name__ == "__main__":
    unittest.main()
