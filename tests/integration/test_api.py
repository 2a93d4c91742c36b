"""Every method of manager/API.md against the real daemon: return shapes,
state rules, placement and the arithmetic of getClusterStatus."""
import datetime
import unittest

from harness import (ALLOCATED, BOUND, DEXT, FAULTY, HALT, HIGH, INSYNC, SPARE, ISO_UTC, LINEAR, LOW, LVOL,
                     MAX_ID, MIRROR, OFFLINE, SNAPSHOT, SNAPSHOT_ORIGIN, T_DEXT, T_HSVR, T_PDSK,
                     T_SSVR, UNBOUND, UNKNOWN_ID, ManagerCase, disk_sectors, footprint, legs_of,
                     make_cluster, mirrors_of, req, walk)

LVOL_ROW = {"lvolid": int, "lvolname": str, "redundancy": int, "capacity": int, "hsvrid": int,
            "associated_to": list, "associated_from": list, "fault": bool, "bind_status": int,
            "bind_event": int, "rebuild_only": bool, "read_only": bool, "state": int, "ctime": str}
NODE = {"lvolid": int, "lvoltype": int, "capacity": int, "mirror_status": int, "lvolspec": dict,
        "labels": list, "components": list}
DEXT_SPEC = {"pdskid": int, "ssvrid": int, "offset": int, "meta_offset": int, "length": int,
             "iqn": str, "iscsi_path": list}
HSVR_ROW = {"hsvrid": int, "priority": int, "ip_data": list, "resync": int}
SSVR_ROW = {"ssvrid": int, "priority": int, "ip_data": list, "resync": int, "available": int,
            "capacity": int, "domain": str}
PDSK_ROW = {"ssvrid": int, "pdskid": int, "priority": int, "local_path": str, "resync": int,
            "capacity": int, "available": int, "weight": float}
EVENT_ROW = {"eventid": int, "time": str, "targetid": int, "message": str}
STATUS = {"version": str, "protocol": int, "chunk_size": int, "capacity": int, "used": int,
          "available": int, "ssvrs": int, "ssvrs_online": int, "hsvrs": int, "hsvrs_online": int,
          "pdsks": int, "pdsks_online": int, "lvols": int, "mirrors": int, "mirrors_degraded": int,
          "rebuilds_queued": int, "rebuilds_running": int, "domains": int}
DISK_GIB = 200  # make_cluster's default disk


def pieces(capacity, chunk):
    """Mirror sizes of a volume: whole chunks, then the remainder."""
    return [chunk] * (capacity // chunk) + ([capacity % chunk] if capacity % chunk else [])


class Checks(ManagerCase):
    """Assertions shared by the classes below (no tests of its own)."""

    def check_ctime(self, ctime):
        self.assertRegex(ctime, ISO_UTC)
        t = datetime.datetime.strptime(ctime, "%Y-%m-%dT%H:%M:%S")
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.assertLess(abs((now - t).total_seconds()), 600, "ctime %s is not UTC now" % ctime)

    def ssvr_ips(self):
        return {s["ssvrid"]: s["ip_data"] for s in self.api.listStorageServers(req())}

    def check_volume_tree(self, tree, lvolid, name, capacity, redundancy, chunk=4, status=ALLOCATED):
        """The whole LVOL -> SNAPSHOT-ORIGIN -> LINEAR -> MIRROR* -> DEXT* tree of a volume."""
        for n in walk(tree):
            self.assertTyped(n, NODE)
            for label in n["labels"]:
                self.assertIs(type(label), str)
        ids = [n["lvolid"] for n in walk(tree)]
        self.assertEqual(len(ids), len(set(ids)), "ids in a tree must be distinct: %s" % ids)
        for i in ids:
            self.assertTrue(1 <= i <= MAX_ID, i)
        self.assertEqual((tree["lvolid"], tree["lvoltype"], tree["capacity"], tree["mirror_status"]),
                         (lvolid, LVOL, capacity, 0))
        self.assertEqual(tree["labels"], [name, "lvol-%08x" % lvolid])
        spec = tree["lvolspec"]
        self.assertEqual((spec["lvolname"], spec["redundancy"]), (name, redundancy))
        self.check_ctime(spec["ctime"])
        self.assertIs(type(spec["assoc"]), list)
        self.assertEqual(len(tree["components"]), 1)
        origin = tree["components"][0]
        self.assertEqual((origin["lvoltype"], origin["capacity"], origin["lvolspec"], origin["mirror_status"]),
                         (SNAPSHOT_ORIGIN, capacity, {}, 0))
        self.assertEqual(len(origin["components"]), 1)
        linear = origin["components"][0]
        self.assertEqual((linear["lvoltype"], linear["capacity"], linear["lvolspec"], linear["mirror_status"]),
                         (LINEAR, capacity, {}, 0))
        self.check_mirrors(linear["components"], capacity, redundancy, chunk, status)

    def check_mirrors(self, mirrors, capacity, redundancy, chunk, status):
        self.assertEqual([m["capacity"] for m in mirrors], pieces(capacity, chunk))
        ips = self.ssvr_ips()
        disks = {d["pdskid"]: d for d in self.api.listPhysicalDisks(req())}
        offset = 0
        for m in mirrors:
            self.assertEqual((m["lvoltype"], m["lvolspec"], m["mirror_status"]), (MIRROR, {"offset": offset}, 0))
            offset += m["capacity"]
            self.assertEqual(len(m["components"]), redundancy)
            for leg in m["components"]:
                s = leg["lvolspec"]
                self.assertEqual((leg["lvoltype"], leg["capacity"], leg["mirror_status"], leg["components"]),
                                 (DEXT, m["capacity"], status, []))
                self.assertTyped(s, DEXT_SPEC)
                self.assertEqual(s["length"], m["capacity"] * 1024)
                self.assertTrue(s["meta_offset"] + 1 == s["offset"] or s["offset"] + s["length"] == s["meta_offset"],
                                "metadata and data of a leg must be contiguous: %s" % s)
                self.assertEqual(disks[s["pdskid"]]["ssvrid"], s["ssvrid"], "leg on a disk of another server")
                _, start, end = footprint(leg)
                self.assertTrue(0 <= start and end <= disks[s["pdskid"]]["capacity"] * 1024, s)
                self.assertEqual(sorted(s["iscsi_path"]), sorted(ip + ":3260" for ip in ips[s["ssvrid"]]))
                self.assertTrue(s["iqn"])
            servers = [leg["lvolspec"]["ssvrid"] for leg in m["components"]]
            self.assertEqual(len(set(servers)), redundancy, "legs of a mirror share a server: %s" % servers)

    def check_no_overlap(self):
        """No two legs of any volume overlap on a disk."""
        seen = {}
        for row in self.api.listLogicalVolumes(req()):
            for leg in legs_of(self.show(row["lvolid"])):
                pdsk, start, end = footprint(leg)
                seen.setdefault(pdsk, []).append((start, end, leg["lvolid"]))
        for pdsk, spans in seen.items():
            spans.sort()
            for a, b in zip(spans, spans[1:]):
                self.assertLessEqual(a[1], b[0], "legs %s and %s overlap on pdsk %d" % (a, b, pdsk))

    def disk(self, pdskid):
        rows = [d for d in self.api.listPhysicalDisks(req()) if d["pdskid"] == pdskid]
        self.assertEqual(len(rows), 1, "pdsk %d listed %d times" % (pdskid, len(rows)))
        return rows[0]

    def usage(self):
        """What must come back unchanged after a failed or undone operation."""
        st = self.status()
        disks = sorted((d["pdskid"], d["available"]) for d in self.api.listPhysicalDisks(req()))
        names = sorted(v["lvolname"] for v in self.api.listLogicalVolumes(req()))
        return {k: st[k] for k in ("used", "available", "capacity", "lvols", "mirrors")}, disks, names


class Volumes(Checks):
    """Volumes, snapshots and attach on a 4 x 3 x 200 GiB cluster, 4 GiB chunks."""
    cluster = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hsvrs = [cls.api.registerHeadServer(req(ip_data=["127.100.0.%d" % i])) for i in (1, 2)]

    def test_create_returns_id_and_list_row(self):
        lvolid, name = self.create(10)
        self.assertIs(type(lvolid), int)
        self.assertTrue(1 <= lvolid <= MAX_ID)
        row = self.lvol(lvolid)
        self.assertTyped(row, LVOL_ROW)
        self.assertEqual((row["lvolid"], row["lvolname"], row["redundancy"], row["capacity"], row["hsvrid"],
                          row["associated_to"], row["associated_from"], row["fault"], row["bind_status"],
                          row["bind_event"]),
                         (lvolid, name, 3, 10, 0, [], [], False, UNBOUND, 0))
        self.check_ctime(row["ctime"])
        self.assertEqual(self.api.listLogicalVolumes(req(lvolname=name)), [row])
        self.assertIn(row, self.api.listLogicalVolumes(req()))
        other, _ = self.create(1)
        self.assertNotEqual(other, lvolid)

    def test_tree_10g_is_three_mirrors_4_4_2_with_3_legs(self):
        lvolid, name = self.create(10)
        tree = self.show(lvolid)
        self.check_volume_tree(tree, lvolid, name, 10, 3)
        self.assertEqual([m["capacity"] for m in mirrors_of(tree)], [4, 4, 2])
        self.assertEqual(self.api.showLogicalVolume(req(lvolname=name)), tree)

    def test_capacities_and_redundancies(self):
        for cap, red in ((1, 2), (4, 2), (8, 4), (9, 3), (13, 2)):
            lvolid, name = self.create(cap, red)
            self.assertEqual((self.lvol(lvolid)["capacity"], self.lvol(lvolid)["redundancy"]), (cap, red))
            self.check_volume_tree(self.show(lvolid), lvolid, name, cap, red)
        self.check_no_overlap()

    def test_ids_are_one_space_across_volumes(self):
        a, _ = self.create(5)
        b, _ = self.create(5)
        ia = {n["lvolid"] for n in walk(self.show(a))}
        ib = {n["lvolid"] for n in walk(self.show(b))}
        self.assertFalse(ia & ib, "two volumes share ids")

    def test_lvolid_wins_over_lvolname(self):
        a, _ = self.create(1)
        _, bname = self.create(2)
        self.assertEqual(self.show_by(a, bname)["lvolid"], a)
        rows = self.api.listLogicalVolumes(req(lvolid=a, lvolname=bname))
        self.assertEqual([r["lvolid"] for r in rows], [a])

    def show_by(self, lvolid, lvolname):
        return self.api.showLogicalVolume(req(lvolid=lvolid, lvolname=lvolname))

    def test_name_taken_is_eexist(self):
        lvolid, name = self.create(1)
        before = self.usage()
        self.assertFault("EEXIST", "createLogicalVolume", req(lvolname=name, capacity=1))
        self.assertEqual(self.usage(), before)
        self.assertEqual(self.lvol(lvolid)["capacity"], 1)

    def test_enospc_leaks_nothing(self):
        before = self.usage()
        name = self.fresh_name()
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=name, capacity=1048576))
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=name, capacity=900))
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=name, capacity=4, redundancy=5))
        self.assertEqual(self.usage(), before)
        lvolid, _ = self.create(1, name=name)  # the name was not taken by the failures
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)

    def test_delete_gives_everything_back(self):
        before = self.usage()
        lvolid, name = self.create(10)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolname=name)), 0)
        self.assertEqual(self.usage(), before)
        self.assertFault("ENOENT", "listLogicalVolumes", req(lvolid=lvolid))
        self.assertFault("ENOENT", "showLogicalVolume", req(lvolid=lvolid))
        self.assertFault("ENOENT", "deleteLogicalVolume", req(lvolid=lvolid))
        self.assertFault("ENOENT", "deleteLogicalVolume", req(lvolname=name))
        self.assertFault("EINVAL", "deleteLogicalVolume", req())
        self.assertFault("EINVAL", "showLogicalVolume", req())

    def test_cluster_status_members_and_arithmetic(self):
        st = self.status()
        self.assertTyped(st, STATUS)
        self.assertEqual((st["protocol"], st["chunk_size"]), (5, 4))
        self.assertTrue(st["version"])
        self.assertEqual((st["ssvrs"], st["ssvrs_online"], st["pdsks"], st["pdsks_online"]), (4, 4, 12, 12))
        self.assertEqual((st["hsvrs"], st["hsvrs_online"]), (2, 2))
        self.assertEqual(st["capacity"], 12 * DISK_GIB)
        self.assertEqual(st["capacity"], sum(s["capacity"] for s in self.api.listStorageServers(req())))
        # per-disk GiB are rounded down one by one: the sum may lose < 1 GiB a disk
        self.assertTrue(0 <= st["available"] - sum(d["available"] for d in self.api.listPhysicalDisks(req())) < 12)
        self.assertEqual((st["mirrors_degraded"], st["rebuilds_queued"], st["rebuilds_running"]), (0, 0, 0))
        self.assertEqual(st["lvols"], len(self.api.listLogicalVolumes(req())))

        lvolid, _ = self.create(10)
        after = self.status()
        # 30 GiB of data plus 9 legs x 1 MiB of metadata
        self.assertIn(after["used"] - st["used"], (30, 31))
        self.assertTrue(30 <= st["available"] - after["available"] <= 30 + 9,
                        "available %d -> %d" % (st["available"], after["available"]))
        self.assertEqual((after["capacity"], after["lvols"], after["mirrors"]),
                         (st["capacity"], st["lvols"] + 1, st["mirrors"] + 3))
        self.api.deleteLogicalVolume(req(lvolid=lvolid))
        self.assertEqual(self.status(), st)

    def test_snapshots(self):
        origin, oname = self.create(6, 2)
        before_snap = self.status()
        snap_name = self.fresh_name("snap")
        snap = self.api.createSnapshot(req(origin_lvolid=origin, snapshot_lvolname=snap_name))
        self.assertIs(type(snap), int)
        self.assertEqual(self.status()["lvols"], before_snap["lvols"] + 1)
        srow, orow = self.lvol(snap), self.lvol(origin)
        self.assertTyped(srow, LVOL_ROW)
        self.assertEqual((srow["lvolname"], srow["redundancy"], srow["hsvrid"]), (snap_name, 2, 0))
        # manager/API.md: "the same capacity and redundancy as its origin, read-only"
        self.assertEqual((srow["capacity"], srow["read_only"], srow["state"]), (6, True, 0))
        self.assertEqual((orow["read_only"], orow["state"]), (False, 0))
        self.assertEqual(srow["associated_to"], [{"lvolid": origin, "type": "snapshot"}])
        self.assertEqual(srow["associated_from"], [])
        self.assertEqual(orow["associated_from"], [{"lvolid": snap, "type": "snapshot"}])
        self.assertEqual(orow["associated_to"], [])

        stree, otree = self.show(snap), self.show(origin)
        self.assertEqual((stree["lvoltype"], stree["labels"]), (LVOL, [snap_name, "lvol-%08x" % snap]))
        self.assertEqual(stree["lvolspec"]["redundancy"], 2)
        snode = stree["components"][0]
        self.assertEqual(snode["lvoltype"], SNAPSHOT)
        self.assertEqual(snode["lvolspec"], {"origin_lvolid": otree["components"][0]["lvolid"]})
        linear = snode["components"][0]
        self.assertEqual(linear["lvoltype"], LINEAR)
        self.assertTrue(mirrors_of(stree))
        for m in mirrors_of(stree):
            self.assertEqual([leg["lvoltype"] for leg in m["components"]], [DEXT, DEXT])
        self.assertEqual([a["lvolid"] for a in otree["lvolspec"]["assoc"]], [snap])
        self.assertEqual(otree["lvolspec"]["assoc"][0]["components"][0]["lvoltype"], SNAPSHOT)
        self.assertFalse({n["lvolid"] for n in walk(stree)} & {n["lvolid"] for n in walk(otree["components"][0])})

        snap2 = self.api.createSnapshot(req(origin_lvolname=oname, snapshot_lvolname=self.fresh_name("snap")))
        self.assertEqual(sorted(a["lvolid"] for a in self.lvol(origin)["associated_from"]), sorted([snap, snap2]))
        self.assertFault("EINVAL", "createSnapshot", req(origin_lvolid=snap, snapshot_lvolname=self.fresh_name()))
        self.assertFault("EEXIST", "createSnapshot", req(origin_lvolid=origin, snapshot_lvolname=snap_name))
        self.assertFault("EEXIST", "createSnapshot", req(origin_lvolid=origin, snapshot_lvolname=oname))
        self.assertFault("ENOENT", "createSnapshot", req(origin_lvolid=UNKNOWN_ID, snapshot_lvolname=self.fresh_name()))
        self.assertFault("ENOENT", "createSnapshot", req(origin_lvolname="nosuchvol", snapshot_lvolname=self.fresh_name()))
        self.assertFault("EINVAL", "createSnapshot", req(origin_lvolid=origin))
        # A snapshot is a volume of its own: attached on any head, its origin untouched.
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=snap, hsvrid=self.hsvrs[1])), 0)
        self.assertEqual((self.lvol(snap)["hsvrid"], self.lvol(origin)["hsvrid"]), (self.hsvrs[1], 0))
        self.assertFault("EBUSY", "deleteLogicalVolume", req(lvolid=snap))
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=snap)), 0)
        # A clone of a snapshot: writable, "clone" both ways.
        clone_name = self.fresh_name("clone")
        clone = self.api.cloneLogicalVolume(req(lvolid=snap, clone_lvolname=clone_name))
        crow = self.lvol(clone)
        self.assertEqual((crow["read_only"], crow["capacity"]), (False, 6))
        self.assertEqual(crow["associated_to"], [{"lvolid": snap, "type": "clone"}])
        self.assertEqual(self.lvol(snap)["associated_from"], [{"lvolid": clone, "type": "clone"}])
        self.assertEqual(self.show(clone)["components"][0]["lvoltype"], SNAPSHOT_ORIGIN)
        self.assertFault("EEXIST", "cloneLogicalVolume", req(lvolid=snap, clone_lvolname=clone_name))
        self.assertFault("EINVAL", "cloneLogicalVolume", req(lvolid=snap))
        # Deleting an origin with snapshots is allowed: they live on.
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=origin)), 0)
        self.assertEqual(self.lvol(snap)["associated_to"], [])
        self.assertEqual(self.show(snap)["components"][0]["lvolspec"], {"origin_lvolid": 0})
        for v in (snap, snap2, clone):
            self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=v)), 0)

    def test_attach_detach(self):
        lvolid, name = self.create(5)
        h0, h1 = self.hsvrs
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=h0)), 0)
        row = self.lvol(lvolid)
        self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (h0, BOUND, 0))
        for leg in legs_of(self.show(lvolid)):
            self.assertEqual(leg["mirror_status"], INSYNC, "an attached leg is no longer ALLOCATED")
        self.assertFault("EBUSY", "attachLogicalVolume", req(lvolid=lvolid, hsvrid=h0))
        self.assertFault("EBUSY", "attachLogicalVolume", req(lvolname=name, hsvrid=h1))
        self.assertFault("EBUSY", "deleteLogicalVolume", req(lvolid=lvolid))
        self.assertEqual(self.api.detachLogicalVolume(req(lvolname=name)), 0)
        row = self.lvol(lvolid)
        self.assertEqual((row["hsvrid"], row["bind_status"], row["bind_event"]), (0, UNBOUND, 0))
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolname=name, hsvrid=h1)), 0)
        self.assertEqual(self.lvol(lvolid)["hsvrid"], h1)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)

    def test_attach_errors(self):
        lvolid, _ = self.create(1)
        self.assertFault("EINVAL", "attachLogicalVolume", req(lvolid=lvolid, hsvrid=UNKNOWN_ID))
        self.assertFault("ENOENT", "attachLogicalVolume", req(lvolid=UNKNOWN_ID, hsvrid=self.hsvrs[0]))
        self.assertFault("ENOENT", "attachLogicalVolume", req(lvolname="nosuchvol", hsvrid=self.hsvrs[0]))
        self.assertFault("ENOENT", "detachLogicalVolume", req(lvolid=UNKNOWN_ID))
        self.assertFault("EINVAL", "attachLogicalVolume", req(lvolid=lvolid))
        self.assertEqual(self.lvol(lvolid)["hsvrid"], 0)

    def test_list_events(self):
        events = self.api.listEvents(req())
        self.assertTrue(events, "registrations must have been recorded")
        for e in events:
            self.assertTyped(e, EVENT_ROW)
            for k in ("level", "type", "target"):
                self.assertIn(k, e)
            self.assertRegex(e["time"], ISO_UTC)
        ids = [e["eventid"] for e in events]
        self.assertEqual(ids, sorted(set(ids)), "events must come oldest first, ids ascending")
        last = ids[-1]
        lvolid, _ = self.create(1)
        self.api.deleteLogicalVolume(req(lvolid=lvolid))
        new = self.api.listEvents(req(since=last))
        self.assertTrue(new)
        self.assertTrue(all(e["eventid"] > last for e in new))
        self.assertIn(lvolid, [e["targetid"] for e in new], "create/delete of a volume leaves an event")
        every = self.api.listEvents(req())
        self.assertEqual(every[:len(events)], events)
        self.assertEqual(every[len(events):], new)
        two = self.api.listEvents(req(limit=2))
        self.assertEqual(two, every[:2])
        self.assertEqual(self.api.listEvents(req(since=ids[0], limit=1)), [every[1]])
        self.assertEqual(self.api.listEvents(req(since=every[-1]["eventid"])), [])
        self.assertFault("EINVAL", "listEvents", req(limit=0))
        self.assertFault("EINVAL", "listEvents", req(limit=10001))

    def test_list_events_newest(self):
        """API.md, listEvents: "or with `newest: true` the last `limit` of them"
        (still oldest first)."""
        lvolid, _ = self.create(1)
        self.api.deleteLogicalVolume(req(lvolid=lvolid))
        every = self.api.listEvents(req(limit=10000))
        self.assertGreaterEqual(len(every), 3)
        self.assertEqual(self.api.listEvents(req(limit=2, newest=True)), every[-2:])
        self.assertEqual(self.api.listEvents(req(since=every[-3]["eventid"], limit=1000, newest=True)), every[-2:])
        self.assertEqual(self.api.listEvents(req(limit=1, newest=False)), every[:1])
        self.assertEqual(self.api.listEvents(req(since=every[-1]["eventid"], newest=True)), [])
        self.assertFault("EINVAL", "listEvents", req(newest="yes"))

    def test_list_servers_and_disks(self):
        rows = self.api.listStorageServers(req())
        self.assertEqual(sorted(r["ssvrid"] for r in rows), sorted(self.ssvrs))
        for r in rows:
            self.assertTyped(r, SSVR_ROW)
            self.assertEqual((r["priority"], r["resync"], r["capacity"], r["domain"]), (HIGH, 0, 3 * DISK_GIB, ""))
            self.assertLessEqual(r["available"], r["capacity"])
        self.assertEqual(self.api.listStorageServers(req(ssvrid=self.ssvrs[1])),
                         [r for r in rows if r["ssvrid"] == self.ssvrs[1]])
        disks = self.api.listPhysicalDisks(req())
        self.assertEqual(sorted(d["pdskid"] for d in disks), sorted(self.pdsks))
        for d in disks:
            self.assertTyped(d, PDSK_ROW)
            self.assertEqual((d["priority"], d["resync"], d["capacity"], d["weight"]), (HIGH, 0, DISK_GIB, 1.0))
            self.assertTrue(d["local_path"].startswith("/dev/disk/by-id/disk-"))
        mine = self.api.listPhysicalDisks(req(ssvrid=self.ssvrs[2]))
        self.assertEqual(sorted(d["pdskid"] for d in mine), sorted(self.pdsks[6:9]))
        self.assertTrue(all(d["ssvrid"] == self.ssvrs[2] for d in mine))
        heads = self.api.listHeadServers(req())
        self.assertEqual(sorted(h["hsvrid"] for h in heads), sorted(self.hsvrs))
        for h in heads:
            self.assertTyped(h, HSVR_ROW)
            self.assertEqual((h["priority"], h["resync"]), (HIGH, 0))
        self.assertEqual(self.api.listHeadServers(req(hsvrid=self.hsvrs[1]))[0]["ip_data"], ["127.100.0.2"])
        self.assertFault("ENOENT", "listHeadServers", req(hsvrid=UNKNOWN_ID))
        self.assertFault("ENOENT", "listStorageServers", req(ssvrid=UNKNOWN_ID))
        self.assertFault("ENOENT", "listPhysicalDisks", req(ssvrid=UNKNOWN_ID))

    def test_notify_failure_of_unattached_leg(self):
        lvolid, _ = self.create(2)
        leg = legs_of(self.show(lvolid))[0]
        self.assertEqual(self.api.notifyFailure(req(target=T_DEXT, targetid=leg["lvolid"])), 0)
        self.assertFault("ENOENT", "notifyFailure", req(target=T_DEXT, targetid=UNKNOWN_ID))
        self.assertFault("EINVAL", "notifyFailure", req(target=9, targetid=leg["lvolid"]))
        self.assertEqual(self.lvol(lvolid)["capacity"], 2)

    def test_list_rebuilds_queued(self):
        """API.md, "Rebuild progress": a queued rebuild has 0 done, rate 0,
        eta -1; `rebuild_left_mib` counts a queued rebuild whole."""
        before = self.status()
        lvolid, name = self.create(2)
        # Attached on a head without an agent (the database's part only): a
        # leg dropped out is queued for resync, and no agent runs it.
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=self.hsvrs[0])), 0)
        leg = legs_of(self.show(lvolid))[0]
        self.assertEqual(self.api.notifyFailure(req(target=T_DEXT, targetid=leg["lvolid"])), 0)
        rows = [r for r in self.api.listRebuilds(req()) if r["lvolid"] == lvolid]
        self.assertEqual(len(rows), 1, rows)
        r = rows[0]
        self.assertEqual((r["lvolname"], r["state"], r["kind"], r["size"]), (name, "queued", "rebuild", 2))
        self.assertEqual((r["done_mib"], r["percent"], r["rate_mibs"], r["eta"], r["started"]), (0, 0.0, 0.0, -1, ""))
        self.assertRegex(r["queued"], ISO_UTC)
        self.assertEqual(len(r["dest_pdskids"]), 1)
        after = self.status()
        self.assertEqual(after["rebuild_total_mib"] - before["rebuild_total_mib"], 2048)
        self.assertEqual(after["rebuild_left_mib"] - before["rebuild_left_mib"], 2048)
        self.assertEqual(after["rebuild_eta"], -1)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        self.api.deleteLogicalVolume(req(lvolid=lvolid))
        self.assertEqual([r for r in self.api.listRebuilds(req()) if r["lvolid"] == lvolid], [])


class ChunkSizeOption(Checks):
    manager_kw = {"chunk_size": "2G"}
    cluster = {"servers": 3, "disks": 1, "sectors": disk_sectors(50)}

    def test_chunk_size_2g(self):
        self.assertEqual(self.status()["chunk_size"], 2)
        lvolid, name = self.create(5)
        tree = self.show(lvolid)
        self.assertEqual([m["capacity"] for m in mirrors_of(tree)], [2, 2, 1])
        self.check_volume_tree(tree, lvolid, name, 5, 3, chunk=2)


class Registration(Checks):
    """Servers and disks: registration, idempotence, failure and deletion."""

    def test_storage_server_and_disks(self):
        s = self.api.registerStorageServer(req(ip_data=["10.1.0.1", "10.2.0.1"], domain="rack1"))
        self.assertIs(type(s), int)
        self.assertTrue(1 <= s <= MAX_ID)
        row, = self.api.listStorageServers(req(ssvrid=s))
        self.assertTyped(row, SSVR_ROW)
        self.assertEqual((row["ssvrid"], row["priority"], sorted(row["ip_data"]), row["resync"], row["capacity"],
                          row["available"], row["domain"]), (s, HIGH, ["10.1.0.1", "10.2.0.1"], 0, 0, 0, "rack1"))
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s)), [])
        d1 = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/disk/by-id/a", capacity=disk_sectors(100)))
        d2 = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/disk/by-id/b",
                                               capacity=str(50 * 2 ** 21 + 777)))
        self.assertNotEqual(d1, d2)
        disks = {d["pdskid"]: d for d in self.api.listPhysicalDisks(req(ssvrid=s))}
        self.assertEqual(set(disks), {d1, d2})
        self.assertTyped(disks[d1], PDSK_ROW)
        self.assertEqual((disks[d1]["ssvrid"], disks[d1]["priority"], disks[d1]["local_path"], disks[d1]["capacity"],
                          disks[d1]["available"], disks[d1]["resync"], disks[d1]["weight"]),
                         (s, HIGH, "/dev/disk/by-id/a", 100, 100, 0, 1.0))
        self.assertEqual(disks[d2]["capacity"], 50)
        row, = self.api.listStorageServers(req(ssvrid=s))
        self.assertEqual((row["capacity"], row["available"]), (150, 150))
        # the same path on another server is another disk
        s2 = self.api.registerStorageServer(req(ip_data=["10.1.0.2"]))
        d3 = self.api.registerPhysicalDisk(req(ssvrid=s2, local_path="/dev/disk/by-id/a", capacity=disk_sectors(100)))
        self.assertNotIn(d3, (d1, d2))
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s2))[0]["domain"], "")

    def test_storage_server_eexist_and_comeback(self):
        ips = ["10.3.0.1", "10.4.0.1"]
        s = self.api.registerStorageServer(req(ip_data=ips))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdb", capacity=disk_sectors(20)))
        self.assertFault("EEXIST", "registerStorageServer", req(ip_data=ips))
        self.assertFault("EEXIST", "registerStorageServer", req(ip_data=["10.9.9.9", "10.4.0.1"]))
        self.assertFault("EEXIST", "registerPhysicalDisk", req(ssvrid=s, local_path="/dev/sdb",
                                                               capacity=disk_sectors(20)))
        self.assertEqual(self.api.notifyFailure(req(target=T_SSVR, targetid=s)), 0)
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["priority"], OFFLINE)
        self.assertEqual([x["priority"] for x in self.api.listPhysicalDisks(req(ssvrid=s))], [OFFLINE])
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["available"], 0)
        self.assertFault("EINVAL", "registerPhysicalDisk", req(ssvrid=s, local_path="/dev/sdc",
                                                               capacity=disk_sectors(20)))
        self.assertEqual(self.api.registerStorageServer(req(ip_data=ips)), s)
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["priority"], HIGH)
        self.assertEqual(self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdb",
                                                           capacity=disk_sectors(20))), d)
        disk, = self.api.listPhysicalDisks(req(ssvrid=s))
        self.assertEqual((disk["pdskid"], disk["priority"], disk["capacity"]), (d, HIGH, 20))

    def test_head_server_eexist_and_comeback(self):
        h = self.api.registerHeadServer(req(ip_data=["10.5.0.1", "fd00::5"]))
        row, = self.api.listHeadServers(req(hsvrid=h))
        self.assertTyped(row, HSVR_ROW)
        self.assertEqual((row["hsvrid"], row["priority"], sorted(row["ip_data"]), row["resync"]),
                         (h, HIGH, ["10.5.0.1", "fd00::5"], 0))
        self.assertFault("EEXIST", "registerHeadServer", req(ip_data=["10.5.0.1", "fd00::5"]))
        self.assertFault("EEXIST", "registerHeadServer", req(ip_data=["10.5.0.1"]))
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=h)), 0)
        self.assertEqual(self.api.listHeadServers(req(hsvrid=h))[0]["priority"], OFFLINE)
        self.assertEqual(self.api.registerHeadServer(req(ip_data=["10.5.0.1", "fd00::5"])), h)
        self.assertEqual(self.api.listHeadServers(req(hsvrid=h))[0]["priority"], HIGH)
        # one host may be a storage server and a head server at once (3.0)
        s = self.api.registerStorageServer(req(ip_data=["10.6.0.1"]))
        h2 = self.api.registerHeadServer(req(ip_data=["10.6.0.1"]))
        self.assertNotIn(h2, (h,))
        self.assertIn(s, [x["ssvrid"] for x in self.api.listStorageServers(req())])

    def test_delete_disk_rules(self):
        s = self.api.registerStorageServer(req(ip_data=["10.7.0.1"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdx", capacity=disk_sectors(10)))
        self.assertFault("EBUSY", "deletePhysicalDisk", req(pdskid=d))
        self.assertFault("ENOENT", "deletePhysicalDisk", req(pdskid=UNKNOWN_ID))
        self.assertEqual(self.api.notifyFailure(req(target=T_PDSK, targetid=d)), 0)
        self.assertIn(self.api.listPhysicalDisks(req(ssvrid=s))[0]["priority"], (OFFLINE, FAULTY))
        self.assertFault("ENOENT", "notifyFailure", req(target=T_PDSK, targetid=UNKNOWN_ID))
        self.assertEqual(self.api.deletePhysicalDisk(req(pdskid=d)), 0)
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s)), [])
        self.assertNotIn(d, [x["pdskid"] for x in self.api.listPhysicalDisks(req())])
        self.assertFault("ENOENT", "deletePhysicalDisk", req(pdskid=d))

    def test_delete_storage_server_rules(self):
        s = self.api.registerStorageServer(req(ip_data=["10.8.0.1"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdy", capacity=disk_sectors(10)))
        self.assertFault("EBUSY", "deleteStorageServer", req(ssvrid=s))
        self.assertFault("ENOENT", "deleteStorageServer", req(ssvrid=UNKNOWN_ID))
        self.assertFault("ENOENT", "notifyFailure", req(target=T_SSVR, targetid=UNKNOWN_ID))
        self.api.notifyFailure(req(target=T_SSVR, targetid=s))
        self.assertEqual(self.api.deleteStorageServer(req(ssvrid=s)), 0)
        self.assertFault("ENOENT", "listStorageServers", req(ssvrid=s))
        self.assertFault("ENOENT", "listPhysicalDisks", req(ssvrid=s))
        self.assertNotIn(d, [x["pdskid"] for x in self.api.listPhysicalDisks(req())])
        self.assertFault("ENOENT", "deleteStorageServer", req(ssvrid=s))
        # its IP is free again: registering it is a new server
        s2 = self.api.registerStorageServer(req(ip_data=["10.8.0.1"]))
        self.assertNotEqual(s2, s)

    def test_delete_head_server_rules(self):
        h = self.api.registerHeadServer(req(ip_data=["10.9.0.1"]))
        self.assertFault("EBUSY", "deleteHeadServer", req(hsvrid=h))
        self.assertFault("ENOENT", "deleteHeadServer", req(hsvrid=UNKNOWN_ID))
        self.assertFault("ENOENT", "notifyFailure", req(target=T_HSVR, targetid=UNKNOWN_ID))
        self.api.notifyFailure(req(target=T_HSVR, targetid=h))
        self.assertEqual(self.api.deleteHeadServer(req(hsvrid=h)), 0)
        self.assertFault("ENOENT", "listHeadServers", req(hsvrid=h))
        self.assertFault("ENOENT", "deleteHeadServer", req(hsvrid=h))

    def test_register_disk_rules(self):
        s = self.api.registerStorageServer(req(ip_data=["10.10.0.1"]))
        self.assertFault("EINVAL", "registerPhysicalDisk", req(ssvrid=UNKNOWN_ID, local_path="/dev/a",
                                                               capacity=disk_sectors(10)))
        self.assertFault("EINVAL", "registerPhysicalDisk", req(ssvrid=s, local_path="dev/a",
                                                               capacity=disk_sectors(10)))
        # smaller than one 4 GiB chunk
        self.assertFault("EINVAL", "registerPhysicalDisk", req(ssvrid=s, local_path="/dev/a",
                                                               capacity=disk_sectors(2)))
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s)), [])

    def test_register_disk_by_label(self):
        """API.md registerPhysicalDisk `pdskid`: that disk if it is this
        server's (path updated), EEXIST another server's, ENOENT unknown."""
        s = self.api.registerStorageServer(req(ip_data=["10.12.0.1"]))
        t = self.api.registerStorageServer(req(ip_data=["10.12.0.2"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdb", capacity=disk_sectors(10)))
        again = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdc", capacity=disk_sectors(10),
                                                  reconnect=True, pdskid=d))
        self.assertEqual(again, d)
        self.assertEqual([x["local_path"] for x in self.api.listPhysicalDisks(req(ssvrid=s))], ["/dev/sdc"])
        self.assertFault("EEXIST", "registerPhysicalDisk", req(ssvrid=t, local_path="/dev/sdc",
                                                               capacity=disk_sectors(10), reconnect=True, pdskid=d))
        self.assertFault("ENOENT", "registerPhysicalDisk", req(ssvrid=s, local_path="/dev/sdd",
                                                               capacity=disk_sectors(10), reconnect=True,
                                                               pdskid=UNKNOWN_ID))

    def test_cluster_id_and_overcommit(self):
        """API.md "Thin legs": a uuid made once; overcommit scales capacity."""
        st = self.api.getClusterStatus(req())
        self.assertRegex(st["cluster_id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(st["overcommit"], 1.0)
        s = self.api.registerStorageServer(req(ip_data=["10.13.0.1"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdb", capacity=disk_sectors(10)))
        self.assertEqual(self.api.setClusterSetting(req(name="overcommit", value="3")), 0)
        self.assertEqual(self.api.getClusterStatus(req())["overcommit"], 3.0)
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s))[0]["capacity"], 30)
        for bad in ("0.9", "20.5", "x"):
            self.assertFault("EINVAL", "setClusterSetting", req(name="overcommit", value=bad))
        self.assertFault("EINVAL", "setClusterSetting", req(name="chunk_size", value="2"))
        self.assertEqual(self.api.setClusterSetting(req(name="overcommit", value="1")), 0)
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s))[0]["capacity"], 10)
        self.assertEqual(self.api.getClusterStatus(req())["cluster_id"], st["cluster_id"])
        del d

    def test_heartbeat_pools(self):
        """API.md heartbeat `pools`: shown in listPhysicalDisks; nearfull
        gives a warning event naming the pool."""
        s = self.api.registerStorageServer(req(ip_data=["10.14.0.1"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/sdb", capacity=disk_sectors(10)))
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s))[0]["pool_mode"], "")
        pool = dict(pdskid=d, data_used_mib=9000, data_mib=10000, meta_used_kib=10, meta_kib=1000, mode="rw")
        self.assertEqual(self.api.heartbeat(req(ssvrid=s, pools=[pool])), 0)
        row = self.api.listPhysicalDisks(req(ssvrid=s))[0]
        self.assertEqual((row["pool_used_mib"], row["pool_mib"], row["pool_meta_used_kib"], row["pool_meta_kib"],
                          row["pool_mode"]), (9000, 10000, 10, 1000, "rw"))
        self.assertEqual(row["available"], 0)  # nearfull: no new legs
        ev = [e for e in self.api.listEvents(req(limit=10000)) if e["type"] == "pool"]
        self.assertEqual([(e["level"], e["targetid"]) for e in ev], [("warning", d)])
        self.assertFault("EINVAL", "heartbeat", req(ssvrid=s, pools=[{"pdskid": d}]))

    def test_domain_and_weight_setters(self):
        s = self.api.registerStorageServer(req(ip_data=["10.11.0.1"]))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/w", capacity=disk_sectors(10)))
        self.assertEqual(self.api.setStorageServerDomain(req(ssvrid=s, domain="row-2.rack:7_a")), 0)
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["domain"], "row-2.rack:7_a")
        self.assertEqual(self.api.setStorageServerDomain(req(ssvrid=s, domain="d" * 64)), 0)
        self.assertFault("EINVAL", "setStorageServerDomain", req(ssvrid=s, domain="d" * 65))
        self.assertFault("EINVAL", "setStorageServerDomain", req(ssvrid=s, domain="rack 1"))
        self.assertFault("ENOENT", "setStorageServerDomain", req(ssvrid=UNKNOWN_ID, domain="x"))
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["domain"], "d" * 64)
        self.assertEqual(self.api.setStorageServerDomain(req(ssvrid=s, domain="")), 0)
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["domain"], "")
        self.assertEqual(self.api.setPhysicalDiskWeight(req(pdskid=d, weight=0.5)), 0)
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s))[0]["weight"], 0.5)
        self.assertFault("EINVAL", "setPhysicalDiskWeight", req(pdskid=d, weight=1.5))
        self.assertFault("EINVAL", "setPhysicalDiskWeight", req(pdskid=d, weight=-0.1))
        self.assertFault("ENOENT", "setPhysicalDiskWeight", req(pdskid=UNKNOWN_ID, weight=0.5))
        self.assertEqual(self.api.listPhysicalDisks(req(ssvrid=s))[0]["weight"], 0.5)


class Placement(Checks):
    """Placement rules, each test on a cluster of its own."""

    def fresh_cluster(self, **kw):
        """Retires every server of this class's manager, then registers a new cluster."""
        for v in self.api.listLogicalVolumes(req()):
            self.api.deleteLogicalVolume(req(lvolid=v["lvolid"]))
        for sv in self.api.listStorageServers(req()):
            self.api.notifyFailure(req(target=T_SSVR, targetid=sv["ssvrid"]))
            self.api.deleteStorageServer(req(ssvrid=sv["ssvrid"]))
        Placement.generation = getattr(Placement, "generation", 0) + 1
        ssvrs, pdsks = [], []
        servers, disks = kw.get("servers", 4), kw.get("disks", 1)
        sizes = kw.get("sizes") or [DISK_GIB] * servers
        for i in range(servers):
            r = req(ip_data=["127.%d.%d.1" % (Placement.generation, i + 1)])
            if kw.get("domains") and kw["domains"][i]:
                r["domain"] = kw["domains"][i]
            ssvrs.append(self.api.registerStorageServer(r))
            for j in range(disks):
                pdsks.append(self.api.registerPhysicalDisk(req(ssvrid=ssvrs[-1], local_path="/dev/p%d" % j,
                                                               capacity=disk_sectors(sizes[i]))))
        return ssvrs, pdsks

    def legs_servers(self, lvolid):
        return [[leg["lvolspec"]["ssvrid"] for leg in m["components"]] for m in mirrors_of(self.show(lvolid))]

    def test_domains(self):
        ssvrs, _ = self.fresh_cluster(domains=["a", "a", "b", "c"])
        dom = dict(zip(ssvrs, ["a", "a", "b", "c"]))
        self.assertEqual(self.status()["domains"], 3)
        for _ in range(4):
            lvolid, _ = self.create(9)
            for servers in self.legs_servers(lvolid):
                self.assertEqual(sorted(dom[s] for s in servers), ["a", "b", "c"])
        before = self.usage()
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=4, redundancy=4))
        self.assertEqual(self.usage(), before)
        self.assertEqual(self.api.setStorageServerDomain(req(ssvrid=ssvrs[1], domain="d")), 0)
        self.assertEqual(self.status()["domains"], 4)
        lvolid, _ = self.create(4, 4)
        self.assertEqual(sorted(self.legs_servers(lvolid)[0]), sorted(ssvrs))

    def test_server_without_domain_is_its_own_domain(self):
        ssvrs, _ = self.fresh_cluster(domains=["a", "a", None, None])
        lvolid, _ = self.create(8, 3)
        for servers in self.legs_servers(lvolid):
            self.assertIn(ssvrs[2], servers)
            self.assertIn(ssvrs[3], servers)
        before = self.usage()
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=1, redundancy=4))
        self.assertEqual(self.usage(), before)

    def test_too_few_servers_is_enospc(self):
        self.fresh_cluster(servers=2, disks=3)
        before = self.usage()
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=1))
        self.assertEqual(self.usage(), before)
        self.create(1, 2)

    def test_enospc_midway_rolls_back(self):
        # the third server holds 4 legs of 4 GiB: the 5th mirror of a 40 GiB volume has no room
        self.fresh_cluster(servers=3, sizes=[DISK_GIB, DISK_GIB, 20])
        before = self.usage()
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=40))
        self.assertEqual(self.usage(), before)
        lvolid, name = self.create(16)
        self.check_volume_tree(self.show(lvolid), lvolid, name, 16, 3)

    def test_lowest_used_fraction_spreads_legs(self):
        _, pdsks = self.fresh_cluster(servers=2, disks=3)
        used = []
        for _ in range(3):
            lvolid, _ = self.create(4, 2)
            used += [leg["lvolspec"]["pdskid"] for leg in legs_of(self.show(lvolid))]
        self.assertEqual(sorted(used), sorted(pdsks), "each of the 6 empty disks should get one leg")
        self.check_no_overlap()

    def test_weight_zero_takes_no_chunks(self):
        _, pdsks = self.fresh_cluster(servers=3, disks=2)
        avail = self.status()["available"]
        self.assertEqual(self.api.setPhysicalDiskWeight(req(pdskid=pdsks[0], weight=0.0)), 0)
        disk = self.disk(pdsks[0])
        self.assertEqual((disk["weight"], disk["available"], disk["capacity"]), (0.0, 0, DISK_GIB))
        self.assertEqual(self.status()["available"], avail - DISK_GIB)
        for _ in range(4):
            lvolid, _ = self.create(8, 3)
            self.assertNotIn(pdsks[0], [leg["lvolspec"]["pdskid"] for leg in legs_of(self.show(lvolid))])
        self.api.setPhysicalDiskWeight(req(pdskid=pdsks[0], weight=1.0))
        self.assertEqual(self.disk(pdsks[0])["available"], DISK_GIB)
        lvolid, _ = self.create(4, 3)
        self.assertIn(pdsks[0], [leg["lvolspec"]["pdskid"] for leg in legs_of(self.show(lvolid))],
                      "the emptiest disk takes the next leg once its weight is back")


class Failures(Checks):
    """notifyFailure: legs go SPARE and are queued for rebuild; failed servers
    and disks lose their legs to the rest of the pool (3.0 sections 4 and 6)."""
    cluster = {"servers": 4, "disks": 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hsvr = cls.api.registerHeadServer(req(ip_data=["127.100.2.1"]))

    def leg_where(self, lvolid):
        return {leg["lvolid"]: (leg["lvolspec"]["ssvrid"], leg["lvolspec"]["pdskid"], leg["mirror_status"])
                for leg in legs_of(self.show(lvolid))}

    def test_a_failed_leg_of_an_attached_volume_goes_spare(self):
        lvolid, _ = self.create(6)
        self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=self.hsvr))
        before = self.status()
        leg = legs_of(self.show(lvolid))[0]
        ssvr, pdsk = leg["lvolspec"]["ssvrid"], leg["lvolspec"]["pdskid"]
        self.assertEqual(self.api.notifyFailure(req(target=T_DEXT, targetid=leg["lvolid"])), 0)
        self.assertEqual(self.leg_where(lvolid)[leg["lvolid"]], (ssvr, pdsk, SPARE))
        self.assertEqual(sorted(st for _, _, st in self.leg_where(lvolid).values()), [INSYNC] * 5 + [SPARE])
        self.assertTrue(self.lvol(lvolid)["fault"])
        st = self.status()
        self.assertEqual(st["mirrors_degraded"], before["mirrors_degraded"] + 1)
        self.assertEqual(st["rebuilds_queued"] + st["rebuilds_running"],
                         before["rebuilds_queued"] + before["rebuilds_running"] + 1)
        self.assertGreaterEqual(self.api.listStorageServers(req(ssvrid=ssvr))[0]["resync"], 1)
        self.assertGreaterEqual(self.disk(pdsk)["resync"], 1)
        # the same report again changes nothing
        self.assertEqual(self.api.notifyFailure(req(target=T_DEXT, targetid=leg["lvolid"])), 0)
        self.assertEqual(self.status(), st)

    def test_failed_server_loses_its_legs(self):
        attached, _ = self.create(9)
        idle, _ = self.create(9, 2)
        self.api.attachLogicalVolume(req(lvolid=attached, hsvrid=self.hsvr))
        spare = legs_of(self.show(attached))[0]
        self.api.notifyFailure(req(target=T_DEXT, targetid=spare["lvolid"]))
        victim = spare["lvolspec"]["ssvrid"]  # holds a SPARE leg
        self.assertIn(victim, [s for s, _, _ in self.leg_where(idle).values()], "test setup: idle not on victim")
        since = self.api.listEvents(req(limit=10000))[-1]["eventid"]
        self.assertEqual(self.api.notifyFailure(req(target=T_SSVR, targetid=victim)), 0)
        self.assertEqual(self.api.listStorageServers(req(ssvrid=victim))[0]["priority"], OFFLINE)
        self.assertEqual({d["priority"] for d in self.api.listPhysicalDisks(req(ssvrid=victim))}, {OFFLINE})
        for lvolid, red, status in ((idle, 2, ALLOCATED), (attached, 3, None)):
            tree = self.show(lvolid)
            for m in mirrors_of(tree):
                servers = [leg["lvolspec"]["ssvrid"] for leg in m["components"]]
                self.assertEqual(len(servers), red)
                self.assertEqual(len(set(servers)), red, "replacement leg on a server of the same mirror")
                self.assertNotIn(victim, servers, "a leg is still on the failed server")
            if status:  # never attached: the new legs need no rebuild
                self.assertEqual({leg["mirror_status"] for leg in legs_of(tree)}, {status})
                self.assertFalse(self.lvol(lvolid)["fault"])
        self.assertIn(victim, [e["targetid"] for e in self.api.listEvents(req(since=since))])
        for row in self.api.listLogicalVolumes(req()):  # including a leg already SPARE before
            self.assertNotIn(victim, [s for s, _, _ in self.leg_where(row["lvolid"]).values()],
                             "%s keeps a leg on the failed server" % row["lvolname"])
        self.check_no_overlap()
        # once nothing attached may still need its old legs, the server can go
        for row in self.api.listLogicalVolumes(req()):
            if row["hsvrid"]:
                self.assertEqual(self.api.detachLogicalVolume(req(lvolid=row["lvolid"])), 0)
        self.assertEqual(self.api.deleteStorageServer(req(ssvrid=victim)), 0)
        self.assertFault("ENOENT", "listPhysicalDisks", req(ssvrid=victim))

    def test_failed_disk_goes_faulty_and_loses_its_legs(self):
        lvolid, _ = self.create(5, 2)
        pdsk = legs_of(self.show(lvolid))[0]["lvolspec"]["pdskid"]
        self.assertEqual(self.api.notifyFailure(req(target=T_PDSK, targetid=pdsk)), 0)
        disk = self.disk(pdsk)
        self.assertEqual((disk["priority"], disk["available"]), (FAULTY, 0))
        self.assertNotIn(pdsk, [p for _, p, _ in self.leg_where(lvolid).values()])
        self.assertEqual(self.api.deletePhysicalDisk(req(pdskid=pdsk)), 0)


    def test_failed_head_server_releases_its_volumes(self):
        other = self.api.registerHeadServer(req(ip_data=["127.100.2.2"]))
        lvolid, _ = self.create(3, 2)
        self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=other))
        self.assertFault("EBUSY", "deleteHeadServer", req(hsvrid=other))
        self.assertEqual(self.api.notifyFailure(req(target=T_HSVR, targetid=other)), 0)
        row = self.lvol(lvolid)
        self.assertEqual((row["hsvrid"], row["bind_status"]), (0, UNBOUND))
        self.assertFault("EINVAL", "attachLogicalVolume", req(lvolid=lvolid, hsvrid=other))
        self.assertEqual(self.api.deleteHeadServer(req(hsvrid=other)), 0)
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=self.hsvr)), 0)
        self.assertEqual(self.lvol(lvolid)["hsvrid"], self.hsvr)


class NoRoom(Checks):
    """Two servers, redundancy 2: a failed leg has nowhere to go."""
    cluster = {"servers": 2, "disks": 1}

    def test_failure_without_room_runs_degraded(self):
        lvolid, _ = self.create(3, 2)
        bad = self.pdsks[0]
        self.assertEqual(self.api.notifyFailure(req(target=T_PDSK, targetid=bad)), 0)
        self.assertEqual(self.disk(bad)["priority"], FAULTY)
        legs = self.leg_where(lvolid)
        self.assertEqual(sorted((p, st) for _, p, st in legs.values()), [(bad, SPARE), (self.pdsks[1], ALLOCATED)])
        self.assertTrue(self.lvol(lvolid)["fault"])
        self.assertEqual(self.status()["mirrors_degraded"], 1)
        self.assertFault("EBUSY", "deletePhysicalDisk", req(pdskid=bad))
        self.api.notifyFailure(req(target=T_SSVR, targetid=self.ssvrs[0]))
        self.assertFault("EBUSY", "deleteStorageServer", req(ssvrid=self.ssvrs[0]))
        self.assertEqual(self.api.deleteLogicalVolume(req(lvolid=lvolid)), 0)
        self.assertEqual(self.status()["mirrors_degraded"], 0)
        self.assertEqual(self.api.deletePhysicalDisk(req(pdskid=bad)), 0)
        self.assertEqual(self.api.deleteStorageServer(req(ssvrid=self.ssvrs[0])), 0)

    leg_where = Failures.leg_where


class EventsLimit(Checks):
    cluster = {"servers": 2, "disks": 1}

    def test_default_limit_is_1000_oldest_first(self):
        for i in range(520):
            self.api.deleteLogicalVolume(req(lvolid=self.create(1, 2, name="e%d" % i)[0]))
        every = self.api.listEvents(req(limit=10000))
        self.assertGreater(len(every), 1040)
        ids = [e["eventid"] for e in every]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(self.api.listEvents(req()), every[:1000])
        self.assertEqual(self.api.listEvents(req(since=ids[-6])), every[-5:])
        self.assertEqual(self.api.listEvents(req(since=ids[99], limit=3)), every[100:103])


class Coalescing(Checks):
    """3 servers x one 20 GiB disk: room for exactly four 4 GiB legs a disk."""
    cluster = {"servers": 3, "disks": 1, "sectors": disk_sectors(20)}

    def test_free_space_coalesces(self):
        before = self.usage()
        small = []
        while True:
            try:
                small.append(self.create(1)[0])
            except Exception as e:  # the disks are full of 1 GiB legs
                self.assertIn("ENOSPC", str(e))
                break
        self.assertGreaterEqual(len(small), 19)
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=4))
        for lvolid in small[1::2] + small[0::2]:  # holes first, then what lies between them
            self.api.deleteLogicalVolume(req(lvolid=lvolid))
        self.assertEqual(self.usage(), before)
        lvolid, name = self.create(16)  # needs four 4097 MiB runs on every disk
        self.check_volume_tree(self.show(lvolid), lvolid, name, 16, 3)
        self.api.deleteLogicalVolume(req(lvolid=lvolid))
        self.assertEqual(self.usage(), before)

    def test_volume_larger_than_a_disk_is_refused_only_for_room(self):
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=20))
        lvolid, name = self.create(25, 2)  # 7 mirrors over 3 disks of 20 GiB
        self.check_volume_tree(self.show(lvolid), lvolid, name, 25, 2)
        self.check_no_overlap()
        self.api.deleteLogicalVolume(req(lvolid=lvolid))


class BadBlocks(Checks):
    cluster = {"servers": 3, "disks": 2}

    def test_bad_block_moves_the_leg_and_lowers_the_disk(self):
        lvolid, name = self.create(8)
        leg = legs_of(self.show(lvolid))[0]
        pdsk, block = leg["lvolspec"]["pdskid"], leg["lvolspec"]["offset"] // 1024 + 1
        self.assertEqual(self.api.notifyBadBlocks(req(pdskid=pdsk, blocks=[block])), 0)
        self.assertEqual(self.disk(pdsk)["priority"], LOW)
        tree = self.show(lvolid)
        self.check_mirrors(mirrors_of(tree), 8, 3, 4, ALLOCATED)
        for other in legs_of(tree):
            p, start, end = footprint(other)
            self.assertFalse(p == pdsk and start < (block + 1) * 1024 and block * 1024 < end,
                             "a leg still covers bad block %d of pdsk %d" % (block, pdsk))
        # a block in free space is accepted; the disk stays allocatable
        self.assertEqual(self.api.notifyBadBlocks(req(pdskid=pdsk, blocks=[DISK_GIB - 1])), 0)
        self.assertEqual(self.disk(pdsk)["priority"], LOW)

    def test_bad_block_errors(self):
        pdsk = self.pdsks[-1]
        before = self.disk(pdsk)
        self.assertFault("ENOENT", "notifyBadBlocks", req(pdskid=UNKNOWN_ID, blocks=[0]))
        self.assertFault("EINVAL", "notifyBadBlocks", req(pdskid=pdsk, blocks=[DISK_GIB]))
        self.assertFault("EINVAL", "notifyBadBlocks", req(pdskid=pdsk, blocks=[-1]))
        self.assertEqual(self.disk(pdsk), before)


class Shutdown(Checks):
    cluster = {"servers": 3, "disks": 1}

    def test_shutdown_all_and_comeback(self):
        h = self.api.registerHeadServer(req(ip_data=["127.100.1.1"]))
        lvolid, _ = self.create(6)
        layout = self.show(lvolid)
        self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=h))
        self.assertFault("EBUSY", "shutdownAll", req())
        self.assertEqual([s["priority"] for s in self.api.listStorageServers(req())], [HIGH] * 3)
        self.assertEqual(self.api.listHeadServers(req())[0]["priority"], HIGH)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)

        self.assertEqual(self.api.shutdownAll(req()), 0)
        self.assertEqual([x["priority"] for x in self.api.listHeadServers(req())], [OFFLINE])
        self.assertEqual([x["priority"] for x in self.api.listStorageServers(req())], [HALT] * 3)
        self.assertEqual([x["priority"] for x in self.api.listPhysicalDisks(req())], [HALT] * 3)
        st = self.status()
        self.assertEqual((st["ssvrs"], st["ssvrs_online"], st["hsvrs"], st["hsvrs_online"],
                          st["pdsks"], st["pdsks_online"], st["available"]), (3, 0, 1, 0, 3, 0, 0))
        self.assertFault("ENOSPC", "createLogicalVolume", req(lvolname=self.fresh_name(), capacity=1))
        self.assertFault("EINVAL", "attachLogicalVolume", req(lvolid=lvolid, hsvrid=h))

        ssvrs, pdsks = make_cluster(self.api, servers=3, disks=1)
        self.assertEqual((ssvrs, pdsks), (self.ssvrs, self.pdsks), "re-registration keeps the ids")
        self.assertEqual(self.api.registerHeadServer(req(ip_data=["127.100.1.1"])), h)
        self.assertEqual([x["priority"] for x in self.api.listStorageServers(req())], [HIGH] * 3)
        self.assertEqual([x["priority"] for x in self.api.listPhysicalDisks(req())], [HIGH] * 3)
        self.assertEqual([x["priority"] for x in self.api.listHeadServers(req())], [HIGH])
        after = self.show(lvolid)
        self.assertEqual([leg["lvolid"] for leg in legs_of(after)], [leg["lvolid"] for leg in legs_of(layout)])
        self.assertEqual(self.api.attachLogicalVolume(req(lvolid=lvolid, hsvrid=h)), 0)
        self.assertEqual(self.api.detachLogicalVolume(req(lvolid=lvolid)), 0)
        self.create(1)


if __name__ == "__main__":
    unittest.main()
