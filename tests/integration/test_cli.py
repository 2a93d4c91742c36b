"""The `vastsky` admin CLI against a real manager: every command, its tables
and --json output, where it finds the manager and secret, and its exit codes
(0 done, 1 the manager refused or could not be reached, 2 a usage error that
is caught before anything is sent).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run from anywhere
import harness  # noqa: E402
from harness import req  # noqa: E402

CLI = os.path.join(harness.BIN_DIR, "vastsky")
LVOL_ID = re.compile(r"^lvol-([0-9a-f]{8})$")


def dead_url():
    """A manager URL nothing listens on."""
    return "http://127.0.0.1:%d/RPC2" % harness.free_port()


class CliCase(harness.ManagerCase):
    """Shares one manager with 4 storage servers of 2 x 500 GiB disks (4000
    GiB raw) and one head server; each test makes its own volumes."""
    cluster = {"servers": 4, "disks": 2, "sectors": harness.disk_sectors(500)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hsvr = cls.api.registerHeadServer(req(ip_data=["127.100.0.1"]))

    def url(self):
        return "http://127.0.0.1:%d/RPC2" % self.m.port

    def run_cli(self, *args, manager=None, secret_file=None, env=None, flags=True):
        """Runs the CLI; the endpoint flags go last, as an admin would type them.
        flags=False leaves them out (for config file and environment tests)."""
        argv = [CLI] + list(args)
        if flags:
            argv += ["--manager", manager or self.url(),
                     "--secret-file", secret_file or self.m.secret_file]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VASTSKY_")}
        clean.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean)

    def ok(self, *args, **kw):
        """Runs a command that must succeed; returns its stdout."""
        r = self.run_cli(*args, **kw)
        self.assertEqual(r.returncode, 0, "vastsky %s: %s" % (" ".join(args), r.stderr))
        self.assertEqual(r.stderr, "")
        return r.stdout

    def js(self, *args, **kw):
        return json.loads(self.ok(*args, "--json", **kw))

    def fails(self, code, *args, **kw):
        """Runs a command that must fail with exit `code`; returns its stderr."""
        r = self.run_cli(*args, **kw)
        self.assertEqual(r.returncode, code, "vastsky %s: want exit %d, got %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), code, r.returncode, r.stdout, r.stderr))
        self.assertEqual(r.stdout, "")
        self.assertNotIn("terminate called", r.stderr)
        return r.stderr

    def create(self, size="1G", *extra):
        """Creates a volume through the CLI; returns (lvolid, name)."""
        name = self.fresh_name("cli")
        out = self.ok("lvol", "create", name, size, *extra).strip()
        m = LVOL_ID.match(out)
        self.assertIsNotNone(m, "lvol create printed %r" % out)
        return int(m.group(1), 16), name

    @staticmethod
    def rows(table):
        """A table's lines split into cells, header first."""
        return [line.split() for line in table.strip().splitlines()]


class TestHelp(CliCase):
    def test_no_arguments_and_help_list_every_command(self):
        for args in ([], ["help"], ["--help"]):
            out = self.ok(*args, flags=False)
            for cmd in ("lvol create", "lvol delete", "lvol attach", "lvol detach", "lvol resize",
                        "lvol list", "lvol show", "lvol family", "snap create", "hsvr list", "hsvr delete", "ssvr list",
                        "ssvr delete", "ssvr set-domain", "pdsk list", "pdsk delete", "pdsk repair",
                        "pdsk set-weight", "event list", "event watch", "cluster status", "cluster set"):
                self.assertIn(cmd, out, args)

    def test_command_help(self):
        for args in (["lvol", "create", "--help"], ["help", "lvol", "create"], ["lvol", "create", "-h"]):
            out = self.ok(*args, flags=False)
            self.assertIn("--redundancy", out)
            self.assertIn("--manager", out)
            self.assertIn("--json", out)

    def test_version(self):
        self.assertRegex(self.ok("--version", flags=False), r"^vastsky \d+\.\d+")


class TestUsageErrors(CliCase):
    """Exit 2 and a clear message, decided before any request: these run
    against a dead URL, which would be exit 1 if they got that far."""

    def usage(self, *args):
        return self.fails(2, *args, manager=dead_url())

    def test_unknown_object_and_verb(self):
        self.assertIn("unknown object 'frob'", self.usage("frob", "list"))
        self.assertIn("unknown command 'lvol frob'", self.usage("lvol", "frob"))
        self.assertIn("lvol create", self.fails(2, "lvol", flags=False))

    def test_bad_sizes(self):
        for size in ("10X", "abc", "1.5G", "512M", "0G", "-1G", ""):
            err = self.usage("lvol", "create", "db", size)
            self.assertIn("lvol create", err, size)
        self.assertIn("whole number of GiB", self.usage("lvol", "create", "db", "1.5G"))

    def test_bad_names(self):
        for name in ("a/b", "has space", "x" * 65, "..", "lvol-0000002a", "0000002a"):
            self.assertIn("not a valid volume name", self.usage("lvol", "create", name, "1G"), name)
        self.assertIn("not a valid volume name", self.usage("snap", "create", "db", "bad/snap"))
        self.assertIn("not a valid volume name", self.usage("lvol", "delete", "bad/name"))

    def test_bad_ids(self):
        self.assertIn("not a head server id", self.usage("lvol", "attach", "db", "hsvr-zz"))
        self.assertIn("not a storage server id", self.usage("ssvr", "list", "ssvr-1"))
        self.assertIn("not a storage server id", self.usage("pdsk", "list", "0x5"))
        self.assertIn("not a disk id", self.usage("pdsk", "delete", "0"))
        self.assertIn("not a disk id", self.usage("pdsk", "repair", "pdsk-zz"))
        self.assertIn("pdsk repair", self.usage("pdsk", "repair"))
        self.assertIn("not a storage server id", self.usage("ssvr", "set-domain", "x", "rack1"))

    def test_bad_values_and_options(self):
        self.assertIn("not a weight", self.usage("pdsk", "set-weight", "1", "1.5"))
        self.assertIn("not a weight", self.usage("pdsk", "set-weight", "1", "heavy"))
        self.assertIn("redundancy", self.usage("lvol", "create", "-r", "x", "db", "1G"))
        self.assertIn("redundancy", self.usage("lvol", "create", "--redundancy", "1", "db", "1G"))
        self.assertIn("largest volume", self.usage("lvol", "create", "db", "2P"))
        self.assertIn("--limit", self.usage("event", "list", "--limit", "many"))
        self.assertIn("unknown option '--bogus'", self.usage("lvol", "list", "--bogus"))
        self.assertIn("SIZE", self.usage("lvol", "create", "db"))
        self.usage("cluster", "status", "extra")


class TestVolumes(CliCase):
    def test_create_list_show_delete(self):
        lvolid, name = self.create("10G")
        row = self.lvol(lvolid)
        self.assertEqual((row["lvolname"], row["capacity"], row["redundancy"]), (name, 10, 3))

        table = self.rows(self.ok("lvol", "list"))
        self.assertEqual(table[0], ["lvolid", "lvolname", "redundancy", "capacity", "hsvrid", "fault", "tenant", "ctime"])
        mine = [r for r in table if r[0] == "lvol-%08x" % lvolid]
        self.assertEqual(len(mine), 1, table)
        self.assertEqual(mine[0][1:8], [name, "3", "10.0", "GiB", "---", "no", "-"])

        listed = self.js("lvol", "list", name)
        self.assertEqual(len(listed), 1)
        self.assertEqual((listed[0]["lvolid"], listed[0]["capacity"], listed[0]["fault"]), (lvolid, 10, False))
        self.assertEqual(listed[0], self.lvol(lvolid))

        # By id, by 8 hex digits and by name: the same volume.
        for ref in ("lvol-%08x" % lvolid, "%08x" % lvolid, name):
            self.assertEqual(self.js("lvol", "list", ref)[0]["lvolid"], lvolid, ref)

        self.ok("lvol", "delete", "%08x" % lvolid)
        err = self.fails(1, "lvol", "list", name)
        self.assertIn("cannot list volume '%s': no such object (ENOENT)" % name, err)

    def test_create_json_and_redundancy(self):
        name = self.fresh_name("cli")
        out = self.js("lvol", "create", "--redundancy", "2", name, "2G")
        self.assertEqual(out["lvolname"], name)
        self.assertEqual(out["lvol"], "lvol-%08x" % out["lvolid"])
        row = self.lvol(out["lvolid"])
        self.assertEqual((row["lvolname"], row["capacity"], row["redundancy"]), (name, 2, 2))

    def test_sizes_with_units(self):
        for size, gib in (("1T", 1024), ("1.5T", 1536), ("3GiB", 3), ("2048M", 2)):
            lvolid, _ = self.create(size, "-r", "2")
            self.assertEqual(self.lvol(lvolid)["capacity"], gib, size)
            self.ok("lvol", "delete", "lvol-%08x" % lvolid)

    def test_show_layout(self):
        lvolid, name = self.create("6G")
        tree = self.show(lvolid)
        out = self.ok("lvol", "show", name)
        self.assertIn("lvol-%08x" % lvolid, out)
        self.assertIn(name, out)
        lines = out.splitlines()
        for mirror in harness.mirrors_of(tree):
            line = [l.split() for l in lines if l.startswith("mirr-%08x" % mirror["lvolid"])]
            self.assertEqual(len(line), 1, out)
            self.assertEqual(line[0][1:3], [str(mirror["lvolspec"]["offset"]), "GiB"])
        for leg in harness.legs_of(tree):
            s = leg["lvolspec"]
            line = [l.split() for l in lines if l.strip().startswith("dext-%08x" % leg["lvolid"])]
            self.assertEqual(len(line), 1, out)
            self.assertEqual(line[0][1:5], ["pdsk-%08x" % s["pdskid"], "ssvr-%08x" % s["ssvrid"],
                                            str(s["offset"]), "MiB"])
            self.assertEqual(line[0][-1], "ALLOCATED")
        self.assertEqual(self.js("lvol", "show", "lvol-%08x" % lvolid), tree)
        self.assertNotIn("family", out)  # no snapshot, clone or origin: no family table

    def test_attach_detach(self):
        lvolid, name = self.create("1G")
        self.ok("lvol", "attach", name, "hsvr-%08x" % self.hsvr)
        self.assertEqual(self.lvol(lvolid)["hsvrid"], self.hsvr)
        row = [r for r in self.rows(self.ok("lvol", "list", name)) if r[1] == name][0]
        self.assertEqual(row[5], "hsvr-%08x" % self.hsvr)  # capacity takes 2 cells
        self.assertIn("INSYNC", self.ok("lvol", "show", name))

        err = self.fails(1, "lvol", "attach", name, str(self.hsvr))
        self.assertIn("cannot attach volume '%s' to head server hsvr-%08x: object is busy (EBUSY)"
                      % (name, self.hsvr), err)
        err = self.fails(1, "lvol", "delete", name)
        self.assertIn("object is busy (EBUSY)", err)

        self.ok("lvol", "detach", "lvol-%08x" % lvolid)
        self.assertEqual(self.lvol(lvolid)["hsvrid"], 0)
        self.assertEqual(self.js("lvol", "detach", name), 0)  # detaching twice is fine
        self.ok("lvol", "delete", name)

    def test_resize(self):
        lvolid, name = self.create("1G")
        self.ok("lvol", "resize", name, "--capacity", "3")
        self.assertEqual(self.lvol(lvolid)["capacity"], 3)
        self.ok("lvol", "resize", "lvol-%08x" % lvolid, "--capacity", "4G")
        self.assertEqual(self.lvol(lvolid)["capacity"], 4)
        err = self.fails(1, "lvol", "resize", name, "--capacity", "2G")
        self.assertIn("cannot resize volume '%s' to 2 GiB: invalid argument (EINVAL)" % name, err)
        self.assertIn("not a whole number of GiB", self.fails(2, "lvol", "resize", name, "--capacity", "1.5G"))
        self.fails(2, "lvol", "resize", name)  # --capacity is required
        self.assertIn("--capacity", self.ok("lvol", "resize", "--help", flags=False))

    def test_snapshot(self):
        lvolid, name = self.create("2G")
        snap = self.fresh_name("snap")
        out = self.ok("snap", "create", name, snap).strip()
        self.assertRegex(out, LVOL_ID)
        snapid = int(out[5:], 16)
        self.assertEqual(self.lvol(snapid)["lvolname"], snap)
        self.assertIn("lvol-%08x (%s)" % (snapid, snap), self.ok("lvol", "show", name))
        self.assertIn("snapshot", self.ok("lvol", "show", snap))

        err = self.fails(1, "snap", "create", "lvol-%08x" % lvolid, snap)
        self.assertIn("cannot create snapshot '%s' of volume lvol-%08x: object already exists (EEXIST)"
                      % (snap, lvolid), err)
        # snap list: every snapshot, or one origin's (by name or id).
        for args in ([], [name], ["lvol-%08x" % lvolid]):
            listed = json.loads(self.ok("snap", "list", *args, "--json"))
            self.assertEqual([s["lvolid"] for s in listed if s["lvolname"] == snap], [snapid], args)
            self.assertNotIn(lvolid, [s["lvolid"] for s in listed])
        self.assertIn("lvol-%08x" % lvolid, self.ok("snap", "list", name))
        # lvol clone of the snapshot; lvol diff of the clone's source against the snapshot.
        clone = self.fresh_name("clone")
        cloneid = int(self.ok("lvol", "clone", snap, clone).strip()[5:], 16)
        self.assertFalse(self.lvol(cloneid)["read_only"])
        self.assertIn("0 changed block(s) of 64 KiB", self.ok("lvol", "diff", name, snap))
        self.assertEqual(json.loads(self.ok("lvol", "diff", name, snap, "--json"))["ranges"], [])
        err = self.fails(1, "lvol", "diff", snap, name)
        self.assertIn("invalid argument (EINVAL)", err)
        self.fails(2, "lvol", "diff", name)
        self.check_family(lvolid, name, snapid, snap, cloneid, clone)
        self.ok("lvol", "revert", name, snap)
        err = self.fails(1, "lvol", "revert", clone, snap)
        self.assertIn("cannot revert volume '%s' to volume '%s': invalid argument (EINVAL)" % (clone, snap), err)
        # The origin goes first: its snapshot and the clone live on.
        self.ok("lvol", "delete", name)
        self.ok("snap", "delete", snap)
        self.ok("lvol", "delete", clone)

    def check_family(self, lvolid, name, snapid, snap, cloneid, clone):
        """lvol show ends with the family; lvol family lists it, --json as getVolumeFamily
        answers (API.md "Families and space"). These servers have no agents: every leg is
        unreported, and the table says so."""
        want = [(lvolid, name, "volume", 0), (snapid, snap, "snapshot", lvolid), (cloneid, clone, "clone", snapid)]
        for ref in (name, "lvol-%08x" % cloneid):
            fam = self.js("lvol", "family", ref)
            self.assertEqual([(m["lvolid"], m["lvolname"], m["kind"], m["source_lvolid"]) for m in fam["lvols"]], want)
            for m in fam["lvols"]:
                self.assertEqual((m["capacity"], m["mapped_mib"], m["exclusive_mib"]), (2, 0, 0))
                self.assertEqual(m["legs_unreported"], len(list(harness.legs_of(self.show(m["lvolid"])))))
        for out in (self.ok("lvol", "show", snap), self.ok("lvol", "family", clone)):
            rows = self.rows(out[out.find("member"):])
            self.assertEqual(rows[0], ["member", "kind", "source", "capacity", "mapped", "held", "alone"], out)
            members = [r for r in rows[1:] if r[0].startswith("lvol-") or r[1].startswith("lvol-")]
            self.assertEqual(len(members), 3, out)
            self.assertIn("lvol-%08x (%s)" % (cloneid, clone), out)
            self.assertIn("+?: ", out)  # legs not counted, and why
        self.assertIn("* lvol-%08x (%s)" % (snapid, snap), self.ok("lvol", "show", snap))
        self.assertEqual(self.js("lvol", "show", snap), self.show(snapid))  # --json unchanged
        self.assertIn("no such object (ENOENT)", self.fails(1, "lvol", "family", "no-such-volume"))

    def test_faults_in_words(self):
        err = self.fails(1, "lvol", "delete", "no-such-volume")
        self.assertIn("cannot delete volume 'no-such-volume': no such object (ENOENT)", err)
        err = self.fails(1, "lvol", "show", "lvol-7ffffff0")
        self.assertIn("cannot show volume lvol-7ffffff0: no such object (ENOENT)", err)

        name = self.fresh_name("big")
        err = self.fails(1, "lvol", "create", name, "2T")  # x3 is 6 TiB of 4000 GiB
        self.assertIn("cannot create volume '%s': no space left in the pool (ENOSPC)" % name, err)
        self.assertEqual([v for v in self.api.listLogicalVolumes(req()) if v["lvolname"] == name], [])

        _, taken = self.create("1G")
        err = self.fails(1, "lvol", "create", taken, "1G")
        self.assertIn("object already exists (EEXIST)", err)


class TestServersAndDisks(CliCase):
    def test_storage_servers(self):
        table = self.rows(self.ok("ssvr", "list"))
        self.assertEqual(table[0], ["ssvrid", "priority", "domain", "capacity", "available", "resync", "ip_data"])
        self.assertEqual(sorted(r[0] for r in table[1:]), sorted("ssvr-%08x" % s for s in self.ssvrs))
        self.assertTrue(all(r[1] == "HIGH" for r in table[1:]), table)

        s = self.ssvrs[0]
        for ref in ("ssvr-%08x" % s, "%08x" % s, str(s)):
            self.assertEqual([x["ssvrid"] for x in self.js("ssvr", "list", ref)], [s], ref)
        err = self.fails(1, "ssvr", "list", "ssvr-7ffffff0")
        self.assertIn("no such object (ENOENT)", err)

    def test_set_domain(self):
        s = self.ssvrs[1]
        self.ok("ssvr", "set-domain", "ssvr-%08x" % s, "rack-7")
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["domain"], "rack-7")
        row = self.rows(self.ok("ssvr", "list", str(s)))[1]
        self.assertEqual(row[2], "rack-7")
        self.ok("ssvr", "set-domain", str(s), "")
        self.assertEqual(self.api.listStorageServers(req(ssvrid=s))[0]["domain"], "")
        err = self.fails(1, "ssvr", "set-domain", str(s), "bad domain!")
        self.assertIn("cannot set the domain of storage server ssvr-%08x: invalid argument (EINVAL)" % s, err)

    def test_disks_and_weight(self):
        table = self.rows(self.ok("pdsk", "list"))
        self.assertEqual(table[0], ["pdskid", "ssvrid", "priority", "weight", "capacity", "available",
                                    "resync", "pool", "pool_use", "pool_mode", "local_path"])
        self.assertEqual(sorted(r[0] for r in table[1:]), sorted("pdsk-%08x" % p for p in self.pdsks))
        of_one = self.js("pdsk", "list", "ssvr-%08x" % self.ssvrs[0])
        self.assertEqual(len(of_one), 2)
        self.assertTrue(all(d["ssvrid"] == self.ssvrs[0] for d in of_one))

        p = self.pdsks[3]
        self.ok("pdsk", "set-weight", "pdsk-%08x" % p, "0.25")
        disk = [d for d in self.api.listPhysicalDisks(req()) if d["pdskid"] == p][0]
        self.assertEqual(disk["weight"], 0.25)
        row = [r for r in self.rows(self.ok("pdsk", "list")) if r[0] == "pdsk-%08x" % p][0]
        self.assertEqual(row[3], "0.25")
        self.ok("pdsk", "set-weight", str(p), "1")

    def test_repair_faults(self):
        # API.md, "Repairing a pool": "ENOENT no such disk; EHOSTDOWN its
        # storage server ... has no agent" (this cluster's servers have none);
        # README: "A fault is explained in words and the exit status is non-zero".
        err = self.fails(1, "pdsk", "repair", "pdsk-7ffffff0")
        self.assertIn("cannot repair disk pdsk-7ffffff0", err)
        self.assertIn("(ENOENT)", err)
        err = self.fails(1, "pdsk", "repair", str(self.pdsks[0]))
        self.assertIn("cannot repair disk pdsk-%08x" % self.pdsks[0], err)
        self.assertIn("(EHOSTDOWN)", err)

    def test_deletes(self):
        err = self.fails(1, "ssvr", "delete", str(self.ssvrs[0]))
        self.assertIn("cannot delete storage server ssvr-%08x: object is busy (EBUSY)" % self.ssvrs[0], err)
        err = self.fails(1, "pdsk", "delete", str(self.pdsks[0]))
        self.assertIn("cannot delete disk pdsk-%08x: object is busy (EBUSY)" % self.pdsks[0], err)
        err = self.fails(1, "hsvr", "delete", str(self.hsvr))
        self.assertIn("object is busy (EBUSY)", err)

        # Failed objects holding nothing can go.
        ssvr = self.api.registerStorageServer(req(ip_data=["127.201.0.1"]))
        pdsk = self.api.registerPhysicalDisk(req(ssvrid=ssvr, local_path="/dev/disk/by-id/spare-a",
                                                 capacity=harness.disk_sectors(100)))
        pdsk2 = self.api.registerPhysicalDisk(req(ssvrid=ssvr, local_path="/dev/disk/by-id/spare-b",
                                                  capacity=harness.disk_sectors(100)))
        self.api.notifyFailure(req(target=harness.T_PDSK, targetid=pdsk))
        self.ok("pdsk", "delete", "pdsk-%08x" % pdsk)
        self.assertNotIn(pdsk, [d["pdskid"] for d in self.js("pdsk", "list", str(ssvr))])
        self.assertIn(pdsk2, [d["pdskid"] for d in self.js("pdsk", "list", str(ssvr))])
        self.api.notifyFailure(req(target=harness.T_SSVR, targetid=ssvr))
        self.ok("ssvr", "delete", "%08x" % ssvr)
        self.assertNotIn(ssvr, [s["ssvrid"] for s in self.js("ssvr", "list")])

        hsvr = self.api.registerHeadServer(req(ip_data=["127.101.0.1"]))
        self.api.notifyFailure(req(target=harness.T_HSVR, targetid=hsvr))
        self.ok("hsvr", "delete", "hsvr-%08x" % hsvr)
        self.assertNotIn(hsvr, [h["hsvrid"] for h in self.js("hsvr", "list")])

    def test_head_servers(self):
        table = self.rows(self.ok("hsvr", "list"))
        self.assertEqual(table[0], ["hsvrid", "priority", "resync", "ip_data"])
        self.assertIn(["hsvr-%08x" % self.hsvr, "HIGH", "0", "127.100.0.1"], table)
        self.assertEqual(self.js("hsvr", "list", str(self.hsvr)), self.api.listHeadServers(req(hsvrid=self.hsvr)))


class TestEventsAndStatus(CliCase):
    def test_events(self):
        lvolid, name = self.create("1G")
        events = self.js("event", "list")
        self.assertTrue(any(e["type"] == "create" and e["targetid"] == lvolid for e in events), events)
        table = self.ok("event", "list")
        self.assertIn("lvol-%08x" % lvolid, table)
        self.assertEqual(self.rows(table)[0], ["eventid", "time", "level", "type", "target", "message"])

        first = events[0]["eventid"]
        page = self.js("event", "list", "--since", str(first), "--limit", "2")
        self.assertEqual([e["eventid"] for e in page], [e["eventid"] for e in events[1:3]])
        err = self.fails(1, "event", "list", "--limit", "0")
        self.assertIn("cannot list events: invalid argument (EINVAL)", err)

    def watch(self, *args, timeout=30):
        """Starts `event watch` with the endpoint flags; returns the process."""
        argv = [CLI, "event", "watch"] + list(args) + ["--manager", self.url(), "--secret-file", self.m.secret_file]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_event_watch(self):
        """`event watch` shows the newest events, then each new one as it is
        recorded, and ends after --count new ones."""
        newest = self.api.listEvents(req(limit=3, newest=True))
        p = self.watch("--last", "3", "--interval", "1", "--count", "2", "--json")
        try:
            first = [json.loads(p.stdout.readline()) for _ in range(3)]  # shown before anything new happens
            lvolid, name = self.create("1G")
            self.ok("lvol", "delete", name)
            out, err = p.communicate(timeout=30)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(first, newest, "the 3 newest first, oldest of them first")
        lines = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([(e["type"], e["targetid"]) for e in lines], [("create", lvolid), ("delete", lvolid)])

        # Text: one line per event, its id first and its target named.
        since = self.api.listEvents(req(limit=1, newest=True))[-1]["eventid"]
        p = self.watch("--since", str(since), "--interval", "1", "--count", "1")
        try:
            lvolid, _ = self.create("1G")
            out, err = p.communicate(timeout=30)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertRegex(out, r"^\d+  \S+  info  create  lvol-%08x  " % lvolid)
        self.assertEqual(len(out.splitlines()), 1)

    def test_event_watch_errors(self):
        """Usage errors exit 2; refused credentials end the watch (1); an
        unreachable manager is said once and watched for."""
        self.assertIn("--interval must be 1 to 3600", self.fails(2, "event", "watch", "--interval", "0"))
        self.assertIn("--last must be 0 to 10000", self.fails(2, "event", "watch", "--last", "10001"))
        with tempfile.NamedTemporaryFile("w", suffix=".secret") as wrong:
            wrong.write("not-the-cluster-secret-0123456789\n")
            wrong.flush()
            self.assertIn("refused the credentials", self.fails(1, "event", "watch", secret_file=wrong.name))
        p = subprocess.Popen([CLI, "event", "watch", "--interval", "1", "--manager", dead_url(),
                              "--secret-file", self.m.secret_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            with self.assertRaises(subprocess.TimeoutExpired):
                p.wait(timeout=3.5)  # still watching after several failed looks
        finally:
            p.kill()
        out, err = p.communicate()
        self.assertEqual(out, "")
        self.assertEqual(err.count("cannot reach the manager"), 1, err)
        self.assertIn("(still watching)", err)

    def test_rebuild_list(self):
        """`rebuild list`: a row per mirror being rebuilt, its disks named."""
        lvolid, name = self.create("1G")
        self.ok("lvol", "attach", name, "hsvr-%08x" % self.hsvr)  # a head without agent: queued, never run
        leg = harness.legs_of(self.api.showLogicalVolume(req(lvolid=lvolid)))[0]
        self.assertEqual(self.api.notifyFailure(req(target=harness.T_DEXT, targetid=leg["lvolid"])), 0)
        table = self.rows(self.ok("rebuild", "list"))
        self.assertEqual(table[0], ["mirror", "volume", "kind", "state", "source", "destination", "done", "rate",
                                    "eta"])
        mine = [row for row in table[1:] if row[1] == name]
        self.assertEqual(len(mine), 1, table)
        self.assertEqual(mine[0][2:4], ["rebuild", "queued"])
        self.assertRegex(mine[0][5], r"^pdsk-[0-9a-f]{8}$")
        self.assertEqual(self.js("rebuild", "list"), self.api.listRebuilds(req()))
        status = self.ok("cluster", "status")
        self.assertRegex(status, r"rebuild progress +\[-{20}\] 0\.0%  .* left at -, ETA unknown")
        self.ok("lvol", "detach", name)
        self.ok("lvol", "delete", name)

    def test_cluster_status(self):
        status = self.js("cluster", "status")
        self.assertEqual(status, self.status())
        self.assertEqual(status["protocol"], 5)
        out = self.ok("cluster", "status")
        self.assertRegex(out, r"(?m)^protocol\s+5$")
        self.assertRegex(out, r"(?m)^storage servers\s+%d \(%d online\)$"
                         % (status["ssvrs"], status["ssvrs_online"]))
        self.assertRegex(out, r"(?m)^capacity\s+\S+ [KMGTP]iB$")
        self.assertRegex(out, r"(?m)^cluster id\s+[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertRegex(out, r"(?m)^overcommit\s+1\.00$")

    def test_cluster_set_overcommit(self):
        """API.md setClusterSetting: overcommit 1.0 to 20 scales every disk's capacity."""
        before = {d["pdskid"]: d["capacity"] for d in self.api.listPhysicalDisks(req())}
        self.ok("cluster", "set", "overcommit", "2")
        self.assertEqual(self.status()["overcommit"], 2.0)
        self.assertRegex(self.ok("cluster", "status"), r"(?m)^overcommit\s+2\.00$")
        after = {d["pdskid"]: d["capacity"] for d in self.api.listPhysicalDisks(req())}
        self.assertEqual(after, {p: 2 * c for p, c in before.items()})
        err = self.fails(1, "cluster", "set", "overcommit", "0.5")
        self.assertIn("cannot set overcommit: invalid argument (EINVAL)", err)
        self.fails(1, "cluster", "set", "colour", "blue")
        self.ok("cluster", "set", "overcommit", "1.0")
        self.assertEqual({d["pdskid"]: d["capacity"] for d in self.api.listPhysicalDisks(req())}, before)


class TestEndpoint(CliCase):
    """Where the CLI finds the manager and the secret, and what it says when
    it cannot get through."""

    def write(self, text, mode=0o600):
        fd, path = tempfile.mkstemp(dir=self.m.dir)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_wrong_secret(self):
        wrong = self.write("not-the-secret-0123456789\n")
        err = self.fails(1, "lvol", "list", secret_file=wrong)
        self.assertIn(self.url(), err)
        self.assertIn("permission denied (EACCES)", err)

    def test_missing_secret_file(self):
        err = self.fails(1, "lvol", "list", secret_file=os.path.join(self.m.dir, "nope"))
        self.assertIn("secret", err)

    def test_unreachable_manager(self):
        url = dead_url()
        err = self.fails(1, "cluster", "status", manager=url)
        self.assertIn("cannot reach the manager at %s" % url, err)

    def test_config_file(self):
        conf = self.write("[cli]\nmanager = %s\nsecret_file = %s\n" % (self.url(), self.m.secret_file))
        self.assertEqual(self.js("cluster", "status", "--config", conf, flags=False)["protocol"], 5)
        # The environment beats the config file, and flags beat both.
        env = {"VASTSKY_MANAGER": dead_url()}
        self.fails(1, "cluster", "status", "--config", conf, env=env, flags=False)
        self.ok("cluster", "status", "--config", conf, "--manager", self.url(), env=env, flags=False)
        env = {"VASTSKY_MANAGER": self.url(), "VASTSKY_SECRET_FILE": self.m.secret_file}
        self.ok("cluster", "status", env=env, flags=False)

        err = self.fails(1, "cluster", "status", "--config", os.path.join(self.m.dir, "missing.conf"))
        self.assertIn("missing.conf", err)

    def test_plain_http_to_a_network_address_is_refused(self):
        # manager/API.md: "Clients refuse http:// to any address that is not
        # loopback": before connecting, and credentials never echoed.
        for url in ("http://10.255.255.1:8881/RPC2", "http://admin:pw-0123456789@manager.example:8881/RPC2"):
            err = self.fails(1, "cluster", "status", manager=url)
            self.assertIn("manager URL", err)
            self.assertNotIn("pw-0123456789", err)
        conf = self.write("[cli]\nmanager = http://10.255.255.1:8881/RPC2\nsecret_file = %s\n" % self.m.secret_file)
        self.assertIn("https://", self.fails(1, "cluster", "status", "--config", conf, flags=False))

    def test_option_equals_value(self):
        self.ok("cluster", "status", "--manager=" + self.url(), "--secret-file=" + self.m.secret_file,
                flags=False)

    def test_credentials_in_url(self):
        url = self.m.url()  # http://admin:SECRET@127.0.0.1:PORT/RPC2, as 3.0 clients use
        self.ok("cluster", "status", "--manager", url, flags=False)
        bad = self.m.url(password="wrong-password-123")
        err = self.fails(1, "cluster", "status", "--manager", bad, flags=False)
        self.assertIn("EACCES", err)
        self.assertNotIn("wrong-password-123", err)


class TestTls(CliCase):
    manager_kw = {"tls": True}
    cluster = None

    def url(self):
        return "https://127.0.0.1:%d/RPC2" % self.m.port

    def test_ca_file_and_insecure(self):
        self.assertEqual(self.js("cluster", "status", "--ca-file", self.m.cert)["protocol"], 5)
        self.assertEqual(self.js("cluster", "status", "--insecure")["protocol"], 5)
        err = self.fails(1, "cluster", "status")  # self-signed, not in the system store
        self.assertIn("cannot reach the manager at %s" % self.url(), err)
        self.assertIn("certificate", err)


if __name__ == "__main__":
    unittest.main()
