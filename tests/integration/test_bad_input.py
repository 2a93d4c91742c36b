"""Hostile input: wrong types, missing members, out-of-range values, odd
names and paths, unknown ids and versions. Each must be the exact fault
API.md names, and afterwards the manager still answers and --audit is OK."""
import random
import unittest
import xmlrpc.client

from harness import (T_DEXT, T_HSVR, T_PDSK, T_SSVR, UNKNOWN_ID, VER, ManagerCase, disk_sectors,
                     http_request, raw_call, req)

NIL = None  # sent as <nil/>
SQL = "x'); DROP TABLE lvol;--"
BAD_NAMES = ["", "n" * 65, '"quoted"', "it's", SQL, "na\u00efve", "\u540d\u524d", "a b", "a/b", "../x",
             ".", "..", "lvol-0000002a", "0000abcd", "tab\there", "new\nline", "semi;colon", "x*", "%s%n"]


class BadInput(ManagerCase):
    cluster = {"servers": 3, "disks": 1}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nil_api = cls.m.proxy(allow_none=True)
        cls.keep = cls.api.createLogicalVolume(req(lvolname="keep", capacity=5))
        cls.hsvr = cls.api.registerHeadServer(req(ip_data=["127.100.0.1"]))

    def fault_each(self, name, method, base, variants):
        """For each (member, value) in variants: base with that member set
        (or removed, when value is the string '<absent>') must fail with `name`."""
        for member, value in variants:
            r = dict(base)
            if value == "<absent>":
                r.pop(member)
            else:
                r[member] = value
            with self.subTest(method=method, member=member, value=repr(value)[:60]):
                self.assertFault(name, method, r, api=self.nil_api)

    def assertKeepIntact(self):
        row, = self.api.listLogicalVolumes(req(lvolname="keep"))
        self.assertEqual((row["lvolid"], row["capacity"], row["redundancy"]), (self.keep, 5, 3))

    # -- protocol version --
    def test_ver_missing_or_wrong_is_eproto(self):
        calls = [("getClusterStatus", {}), ("listLogicalVolumes", {}),
                 ("createLogicalVolume", {"lvolname": self.fresh_name(), "capacity": 1}),
                 ("registerHeadServer", {"ip_data": ["10.0.0.1"]}),
                 ("deleteLogicalVolume", {"lvolid": self.keep})]
        for method, members in calls:
            for ver in ("<absent>", 4, 6, "5", 5.0, [5], NIL):
                r = dict(members)
                if ver != "<absent>":
                    r["ver"] = ver
                with self.subTest(method=method, ver=ver):
                    self.assertFault("EPROTO", method, r, api=self.nil_api)
        self.assertKeepIntact()
        self.assertEqual(self.api.listHeadServers(req())[0]["hsvrid"], self.hsvr)
        self.assertEqual(len(self.api.listHeadServers(req())), 1)

    # -- the shape of the parameters --
    def test_params_not_one_struct_is_einval(self):
        self.assertFault("EINVAL", "getClusterStatus", [req()])  # an array for the struct
        self.assertFault("EINVAL", "getClusterStatus", "ver")
        self.assertFault("EINVAL", "getClusterStatus", VER)
        for method in ("getClusterStatus", "listLogicalVolumes", "shutdownAll"):
            with self.subTest(method=method):
                with self.assertRaises(xmlrpc.client.Fault) as cm:
                    getattr(self.api, method)()  # no params at all
                self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (22, "EINVAL"))
                with self.assertRaises(xmlrpc.client.Fault) as cm:
                    getattr(self.api, method)(req(), req())  # two params
                self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (22, "EINVAL"))
        self.assertEqual(self.status()["hsvrs_online"], 1, "shutdownAll must not have run")

    # -- wrong types, member by member --
    def test_create_wrong_types(self):
        base = req(lvolname=self.fresh_name(), capacity=1, redundancy=2)
        self.fault_each("EINVAL", "createLogicalVolume", base, [
            ("lvolname", 5), ("lvolname", ["a"]), ("lvolname", {"a": 1}), ("lvolname", NIL), ("lvolname", True),
            ("lvolname", xmlrpc.client.Binary(b"abc")),
            ("capacity", "10"), ("capacity", 10.0), ("capacity", True), ("capacity", [10]), ("capacity", {}),
            ("capacity", NIL), ("capacity", xmlrpc.client.DateTime("20260101T00:00:00")),
            ("redundancy", "3"), ("redundancy", 2.5), ("redundancy", NIL), ("redundancy", [2]),
            ("lvolname", "<absent>"), ("capacity", "<absent>")])
        self.assertEqual(self.status()["lvols"], 1)

    def test_register_wrong_types(self):
        self.fault_each("EINVAL", "registerStorageServer", req(ip_data=["10.1.1.1"]), [
            ("ip_data", "10.1.1.1"), ("ip_data", [1]), ("ip_data", {"a": "10.1.1.1"}), ("ip_data", [["10.1.1.1"]]),
            ("ip_data", NIL), ("ip_data", [NIL]), ("ip_data", "<absent>"), ("domain", 5), ("domain", ["a"])])
        self.fault_each("EINVAL", "registerHeadServer", req(ip_data=["10.1.1.2"]), [
            ("ip_data", "10.1.1.2"), ("ip_data", [2]), ("ip_data", NIL), ("ip_data", "<absent>")])
        self.fault_each("EINVAL", "registerPhysicalDisk",
                        req(ssvrid=self.ssvrs[0], local_path="/dev/new", capacity=disk_sectors(10)), [
            ("ssvrid", str(self.ssvrs[0])), ("ssvrid", float(self.ssvrs[0])), ("ssvrid", NIL),
            ("local_path", 5), ("local_path", ["/dev/new"]), ("capacity", 10 * 2 ** 21),
            ("capacity", [disk_sectors(10)]), ("capacity", NIL),
            ("ssvrid", "<absent>"), ("local_path", "<absent>"), ("capacity", "<absent>")])
        self.assertEqual(len(self.api.listStorageServers(req())), 3)
        self.assertEqual(len(self.api.listHeadServers(req())), 1)
        self.assertEqual(len(self.api.listPhysicalDisks(req())), 3)

    def test_id_members_wrong_types(self):
        keep, hsvr, pdsk, ssvr = self.keep, self.hsvr, self.pdsks[0], self.ssvrs[0]
        for method, base, member in [
                ("deleteLogicalVolume", req(lvolid=keep), "lvolid"),
                ("showLogicalVolume", req(lvolid=keep), "lvolid"),
                ("listLogicalVolumes", req(lvolid=keep), "lvolid"),
                ("attachLogicalVolume", req(lvolid=keep, hsvrid=hsvr), "hsvrid"),
                ("attachLogicalVolume", req(lvolid=keep, hsvrid=hsvr), "lvolid"),
                ("detachLogicalVolume", req(lvolid=keep), "lvolid"),
                ("listHeadServers", req(hsvrid=hsvr), "hsvrid"),
                ("listStorageServers", req(ssvrid=ssvr), "ssvrid"),
                ("listPhysicalDisks", req(ssvrid=ssvr), "ssvrid"),
                ("deletePhysicalDisk", req(pdskid=pdsk), "pdskid"),
                ("deleteStorageServer", req(ssvrid=ssvr), "ssvrid"),
                ("deleteHeadServer", req(hsvrid=hsvr), "hsvrid"),
                ("notifyFailure", req(target=T_PDSK, targetid=pdsk), "targetid"),
                ("notifyFailure", req(target=T_PDSK, targetid=pdsk), "target"),
                ("notifyBadBlocks", req(pdskid=pdsk, blocks=[150]), "pdskid"),
                ("setStorageServerDomain", req(ssvrid=ssvr, domain="r1"), "ssvrid"),
                ("setPhysicalDiskWeight", req(pdskid=pdsk, weight=0.5), "pdskid"),
                ("repairPhysicalDisk", req(pdskid=pdsk), "pdskid"),
                ("createSnapshot", req(origin_lvolid=keep, snapshot_lvolname="s1"), "origin_lvolid")]:
            self.fault_each("EINVAL", method, base,
                            [(member, str(base[member])), (member, float(base[member])), (member, [base[member]]),
                             (member, NIL), (member, {"id": base[member]})])
        self.fault_each("EINVAL", "notifyBadBlocks", req(pdskid=pdsk, blocks=[150]), [
            ("blocks", 150), ("blocks", ["150"]), ("blocks", [150.0]), ("blocks", NIL), ("blocks", "<absent>")])
        self.fault_each("EINVAL", "setPhysicalDiskWeight", req(pdskid=pdsk, weight=0.5), [
            ("weight", "0.5"), ("weight", NIL), ("weight", [0.5]), ("weight", "<absent>")])
        self.fault_each("EINVAL", "setStorageServerDomain", req(ssvrid=ssvr, domain="r1"), [
            ("domain", 5), ("domain", NIL), ("domain", "<absent>")])
        self.fault_each("EINVAL", "listEvents", req(), [("since", "1"), ("limit", "5"), ("limit", 2.0)])
        self.fault_each("EINVAL", "createSnapshot", req(origin_lvolid=keep, snapshot_lvolname="s1"), [
            ("snapshot_lvolname", 5), ("snapshot_lvolname", "<absent>"), ("origin_lvolid", "<absent>")])
        self.assertKeepIntact()
        self.assertEqual([d["priority"] for d in self.api.listPhysicalDisks(req())], [1, 1, 1])
        self.assertEqual([d["weight"] for d in self.api.listPhysicalDisks(req())], [1.0] * 3)
        self.assertEqual(self.api.listLogicalVolumes(req(lvolid=keep))[0]["associated_from"], [])

    def test_unknown_members_are_ignored(self):
        name = self.fresh_name()
        lvolid = self.api.createLogicalVolume(req(lvolname=name, capacity=1, redundancy=2, color="blue",
                                                  lvolid=[1], extra={"a": 1}))
        row, = self.api.listLogicalVolumes(req(lvolid=lvolid, hsvrid="x"))
        self.assertEqual((row["lvolname"], row["capacity"]), (name, 1))
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid, capacity="huge")), 0)

    # -- ranges --
    def test_capacity_and_redundancy_ranges(self):
        for cap in (-1, 0, 2 ** 31 - 1, 1048577, -2 ** 31):
            self.assertFault("EINVAL", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=cap))
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=1048576))
        for red in (1, 10, 0, -3, 2 ** 31 - 1):
            self.assertFault("EINVAL", "createLogicalVolume",
                             req(lvolname=self.fresh_name(), capacity=1, redundancy=red))
        self.assertEqual(self.status()["lvols"], 1)

    def test_i8_and_overflowing_ints(self):
        body = xmlrpc.client.dumps((req(lvolname=self.fresh_name(), capacity=123454321),), "createLogicalVolume")
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            raw_call(self.m, body.replace("<int>123454321</int>", "<i8>4294967306</i8>"))
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (22, "EINVAL"))
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            raw_call(self.m, body.replace("<int>123454321</int>", "<int>99999999999999999999</int>"))
        self.assertIn(cm.exception.faultCode, (22, -503))
        body = xmlrpc.client.dumps((req(lvolid=123454321),), "showLogicalVolume")
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            raw_call(self.m, body.replace("<int>123454321</int>", "<i8>%d</i8>" % (2 ** 32 + self.keep)))
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString), (22, "EINVAL"))
        self.assertEqual(self.status()["lvols"], 1)

    def test_deep_nesting(self):
        depth = 20000
        body = ("<?xml version='1.0'?><methodCall><methodName>createLogicalVolume</methodName><params><param>"
                "<value><struct><member><name>ver</name><value><int>5</int></value></member>"
                "<member><name>lvolname</name><value>" + "<array><data><value>" * depth + "x"
                + "</value></data></array>" * depth + "</value></member></struct></value></param></params>"
                "</methodCall>")
        status, _, data = http_request(self.m, body=body.encode())
        self.assertIn(status, (200, 400))
        if status == 200:
            with self.assertRaises(xmlrpc.client.Fault):
                xmlrpc.client.loads(data)
        self.assertKeepIntact()

    def test_ids_out_of_range_are_einval(self):
        for bad in (0, -1, -2 ** 31):
            self.assertFault("EINVAL", "showLogicalVolume", req(lvolid=bad))
            self.assertFault("EINVAL", "deleteHeadServer", req(hsvrid=bad))
        self.assertKeepIntact()

    # -- names --
    def test_bad_volume_names(self):
        for name in BAD_NAMES:
            self.assertFault("EINVAL", "createLogicalVolume", req(lvolname=name, capacity=1))
            self.assertFault("EINVAL", "createSnapshot", req(origin_lvolid=self.keep, snapshot_lvolname=name))
        self.assertEqual(self.status()["lvols"], 1)
        self.assertKeepIntact()
        # lookups by such names find nothing and change nothing
        for name in (SQL, "keep' OR '1'='1", "%", "_eep", "KEEP"):
            self.assertFault("ENOENT", "deleteLogicalVolume", req(lvolname=name), names=("ENOENT", "EINVAL"))
            self.assertFault("ENOENT", "listLogicalVolumes", req(lvolname=name), names=("ENOENT", "EINVAL"))
        self.assertKeepIntact()
        long_name = "L" * 64
        lvolid = self.api.createLogicalVolume(req(lvolname=long_name, capacity=1))
        self.assertEqual(self.api.listLogicalVolumes(req(lvolid=lvolid))[0]["lvolname"], long_name)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolname=long_name)), 0)

    def test_bad_local_paths(self):
        for path in ("", "dev/sda", "sda", "/dev/../etc/shadow", "/dev/disk/by-id/../../../etc/passwd", "/..",
                     "/dev/sda\n", "/dev/\tsda", "/" + "p" * 1024, "/dev/./sda/.."):
            self.assertFault("EINVAL", "registerPhysicalDisk",
                             req(ssvrid=self.ssvrs[1], local_path=path, capacity=disk_sectors(10)))
        self.assertEqual(len(self.api.listPhysicalDisks(req(ssvrid=self.ssvrs[1]))), 1)
        longest = "/" + "q" * 1023
        d = self.api.registerPhysicalDisk(req(ssvrid=self.ssvrs[1], local_path=longest, capacity=disk_sectors(10)))
        self.assertIn(longest, [x["local_path"] for x in self.api.listPhysicalDisks(req(ssvrid=self.ssvrs[1]))])
        self.api.notifyFailure(req(target=T_PDSK, targetid=d))
        self.assertEqual(self.api.deletePhysicalDisk(req(pdskid=d)), 0)

    def test_bad_disk_capacities(self):
        for cap in ("", "abc", "-%d" % (10 * 2 ** 21), "1e9", "0x100000000", "9" * 40, "0", "2097151",
                    disk_sectors(1), "20971520x", "20971520.0", "2.5e7", "\uff12\uff10\uff19\uff17\uff11\uff15\uff12\uff10"):
            self.assertFault("EINVAL", "registerPhysicalDisk",
                             req(ssvrid=self.ssvrs[2], local_path="/dev/cap", capacity=cap))
        self.assertEqual(len(self.api.listPhysicalDisks(req(ssvrid=self.ssvrs[2]))), 1)

    def test_bad_ip_data(self):
        many = ["10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(100000)]
        for ips in ([], ["10.2.0.%d" % i for i in range(1, 10)], ["999.1.1.1"], ["1.2.3"], ["abc"], [""],
                    ["1.2.3.4; rm -rf /"], ["::gg"], ["1.2.3.4/24"], ["1.2.3.4:80"], ["x" * 10000], many):
            for method in ("registerStorageServer", "registerHeadServer"):
                with self.subTest(method=method, ips=repr(ips)[:40], n=len(ips)):
                    self.assertFault("EINVAL", method, req(ip_data=ips))
        self.assertEqual(len(self.api.listStorageServers(req())), 3)
        self.assertEqual(len(self.api.listHeadServers(req())), 1)
        eight = ["10.3.0.%d" % i for i in range(1, 8)] + ["fd00::3"]
        s = self.api.registerStorageServer(req(ip_data=eight))
        self.assertEqual(sorted(self.api.listStorageServers(req(ssvrid=s))[0]["ip_data"]), sorted(eight))
        self.api.notifyFailure(req(target=T_SSVR, targetid=s))
        self.assertEqual(self.api.deleteStorageServer(req(ssvrid=s)), 0)

    def test_bad_domains_weights_targets_limits(self):
        for dom in ("a b", "d" * 65, "rack/1", "\u00e9", "x\n", "a,b"):
            self.assertFault("EINVAL", "setStorageServerDomain", req(ssvrid=self.ssvrs[0], domain=dom))
            self.assertFault("EINVAL", "registerStorageServer", req(ip_data=["10.4.0.1"], domain=dom))
        for w in (1.0001, -0.5, 2.0, -1e300, 1e300):
            self.assertFault("EINVAL", "setPhysicalDiskWeight", req(pdskid=self.pdsks[0], weight=w))
        for t in (0, 5, -1, 99):
            self.assertFault("EINVAL", "notifyFailure", req(target=t, targetid=self.pdsks[0]))
        for lim in (0, -1, 10001):
            self.assertFault("EINVAL", "listEvents", req(limit=lim))
        for blocks in ([-1], [200], [2 ** 31 - 1], [0, 1, 10 ** 6]):
            self.assertFault("EINVAL", "notifyBadBlocks", req(pdskid=self.pdsks[0], blocks=blocks))
        self.assertEqual([s["domain"] for s in self.api.listStorageServers(req())], [""] * 3)
        self.assertEqual([d["priority"] for d in self.api.listPhysicalDisks(req())], [1, 1, 1])

    # -- unknown things --
    def test_unknown_ids_are_enoent(self):
        u = UNKNOWN_ID
        for method, r in [
                ("deleteLogicalVolume", req(lvolid=u)), ("deleteLogicalVolume", req(lvolname="nosuch")),
                ("showLogicalVolume", req(lvolid=u)), ("showLogicalVolume", req(lvolname="nosuch")),
                ("listLogicalVolumes", req(lvolid=u)), ("listLogicalVolumes", req(lvolname="nosuch")),
                ("attachLogicalVolume", req(lvolid=u, hsvrid=self.hsvr)),
                ("detachLogicalVolume", req(lvolid=u)), ("detachLogicalVolume", req(lvolname="nosuch")),
                ("createSnapshot", req(origin_lvolid=u, snapshot_lvolname="s2")),
                ("listHeadServers", req(hsvrid=u)), ("listStorageServers", req(ssvrid=u)),
                ("listPhysicalDisks", req(ssvrid=u)), ("deletePhysicalDisk", req(pdskid=u)),
                ("deleteStorageServer", req(ssvrid=u)), ("deleteHeadServer", req(hsvrid=u)),
                ("notifyFailure", req(target=T_HSVR, targetid=u)), ("notifyFailure", req(target=T_SSVR, targetid=u)),
                ("notifyFailure", req(target=T_PDSK, targetid=u)), ("notifyFailure", req(target=T_DEXT, targetid=u)),
                ("notifyBadBlocks", req(pdskid=u, blocks=[1])),
                ("setStorageServerDomain", req(ssvrid=u, domain="r")),
                ("setPhysicalDiskWeight", req(pdskid=u, weight=0.5))]:
            self.assertFault("ENOENT", method, r)
        # a volume id is not a dext id, and a disk id is not a server id
        self.assertFault("ENOENT", "notifyFailure", req(target=T_DEXT, targetid=self.keep))
        self.assertFault("EINVAL", "registerPhysicalDisk",
                         req(ssvrid=self.pdsks[0] if self.pdsks[0] not in self.ssvrs else u,
                             local_path="/dev/z", capacity=disk_sectors(10)))
        self.assertKeepIntact()

    def test_unknown_methods(self):
        for method in ("noSuchMethod", "createlogicalvolume", "system.shutdown", "__init__", "_dispatch",
                       "createLogicalVolume.x", "a" * 300, "", "getClusterStatus\x01"):
            with self.subTest(method=method):
                with self.assertRaises(xmlrpc.client.Fault):
                    raw_call(self.m, xmlrpc.client.dumps((req(),), method))
        self.assertKeepIntact()

    def test_random_structs(self):
        """Seeded fuzz: random members of random types to every method."""
        rng = random.Random(20261124)
        methods = ["registerHeadServer", "registerStorageServer", "registerPhysicalDisk", "deletePhysicalDisk",
                   "deleteHeadServer", "deleteStorageServer", "createLogicalVolume", "createSnapshot",
                   "deleteLogicalVolume", "attachLogicalVolume", "detachLogicalVolume", "listLogicalVolumes",
                   "showLogicalVolume", "listHeadServers", "listStorageServers", "listPhysicalDisks", "listEvents",
                   "notifyFailure", "notifyBadBlocks", "getClusterStatus", "setStorageServerDomain",
                   "setPhysicalDiskWeight"]
        members = ["lvolid", "lvolname", "capacity", "redundancy", "hsvrid", "ssvrid", "pdskid", "ip_data",
                   "local_path", "target", "targetid", "blocks", "weight", "domain", "since", "limit",
                   "origin_lvolid", "origin_lvolname", "snapshot_lvolname"]

        def value(depth=0):
            k = rng.randrange(9 if depth < 2 else 6)
            return [lambda: rng.randint(-2 ** 31, 2 ** 31 - 1), lambda: rng.choice([0, -1, 10 ** 6, 2 ** 31 - 1]),
                    lambda: "".join(chr(rng.randrange(32, 0x2fff)) for _ in range(rng.randrange(0, 80))),
                    lambda: rng.random() * rng.choice([1, -1, 1e9]), lambda: rng.choice([True, False]),
                    lambda: None, lambda: [value(depth + 1) for _ in range(rng.randrange(4))],
                    lambda: {rng.choice(members): value(depth + 1) for _ in range(rng.randrange(3))},
                    lambda: xmlrpc.client.Binary(bytes(rng.randrange(256) for _ in range(8)))][k]()

        for _ in range(300):
            method = rng.choice(methods)
            r = {m: value() for m in rng.sample(members, rng.randrange(1, 5))}
            r["ver"] = VER
            try:
                getattr(self.nil_api, method)(r)
            except xmlrpc.client.Fault as f:
                self.assertNotEqual(f.faultCode, 500, "internal error on %s(%r)" % (method, r))
        self.assertTrue(self.api.getClusterStatus(req()))

    # -- runs last (alphabetically): everything above left a sane manager --
    def test_zz_still_serving_and_consistent(self):
        st = self.status()
        self.assertEqual(st["protocol"], 5)
        self.assertKeepIntact()
        lvolid = self.api.createLogicalVolume(req(lvolname=self.fresh_name(), capacity=9, redundancy=2))
        self.assertEqual(self.api.listLogicalVolumes(req(lvolid=lvolid))[0]["capacity"], 9)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)
        code, out = self.m.audit()
        self.assertEqual(code, 0, out)
        self.assertIn("audit: OK", out)


if __name__ == "__main__":
    unittest.main()
