"""A client written the way VastSky 3.0's tools were (vas_subr.send_request,
lvol_list.py, lvol_show.py, the reporters), in Python 3 syntax. The only
change from 3.0: the URL carries credentials. If this breaks, 3.0 clients
(and the XCP driver derived from them) break."""
import errno
import io
import os
import socket
import unittest
import xmlrpc.client

from harness import SECRET, Manager

XMLRPC_VERSION = 5
ALLOC_PRIORITY_STR = {1: 'HIGH', 2: 'LOW', 3: 'EVACUATE', 4: 'OFFLINE', 5: 'FAULTY', 6: 'HALT'}
MIRROR_STATUS_STR = {1: 'ALLOCATED', 2: 'INSYNC', 3: 'SPARE'}
LVOLTYPE = {'LVOL': 0, 'LINEAR': 1, 'MIRROR': 2, 'DEXT': 3, 'SNAPSHOT-ORIGIN': 6, 'SNAPSHOT': 7}
ATTACH_STATUS = {'BOUND': 1, 'ERROR': 2}
ATTACH_EVENT = {'BINDING': 1, 'UNBINDING': 2}
TARGET = {'HSVR': 1, 'SSVR': 2, 'PDSK': 3, 'LVOL': 4}


class Tool:
    """vas_subr.py and the CLI printers of 3.0."""

    def __init__(self, host_list, port):
        self.host_storage_manager_list = host_list
        self.port_storage_manager = port
        self.out = io.StringIO()

    def send_request(self, ip_addrs, port, method, data):
        for ip in ip_addrs:
            try:
                agent = xmlrpc.client.ServerProxy("http://admin:%s@%s:%s" % (SECRET, ip, port))
                func = getattr(agent, method)
                return func(data)
            except socket.timeout:
                raise xmlrpc.client.Fault(errno.ETIMEDOUT, 'ETIMEDOUT')
            except xmlrpc.client.Fault:
                raise
            except Exception:
                continue  # try other link
        raise xmlrpc.client.Fault(errno.EHOSTDOWN, 'EHOSTDOWN')

    def sm(self, method, subargs):
        subargs['ver'] = XMLRPC_VERSION
        return self.send_request(self.host_storage_manager_list, self.port_storage_manager, method, subargs)

    def cli(self, method, subargs, printer=None):
        """main() of a 3.0 command: returns its exit code; output in self.out."""
        try:
            res = self.sm(method, subargs)
            if printer:
                printer(res)
        except xmlrpc.client.Fault as inst:
            if inst.faultCode == 500:
                print("Internal server error", file=self.out)
            else:
                print(os.strerror(inst.faultCode), file=self.out)
            return 1
        return 0

    @staticmethod
    def get_targetid(input, prefix):
        try:
            if input.index(prefix) == 0:
                hexid = input[len(prefix):]
                if len(hexid) == 8:
                    return int(hexid, 16)
        except ValueError:
            try:
                if len(input) == 8:
                    return int(input, 16)
            except ValueError:
                pass
        raise ValueError("invalid %sid: %s" % (prefix, input))

    def lvol_arg(self, arg):
        try:
            return {'lvolid': self.get_targetid(arg, 'lvol-')}
        except ValueError:
            return {'lvolname': arg}

    def p(self, line):
        print(line, file=self.out)

    def listLogicalVolumes_print(self, array):
        column = "%-14s %-12s %12s %8s %-14s %-12s %-19s"
        self.p(column % ('lvolid', 'lvolname', 'redundancy', 'capacity', ' hsvrid', 'failure', 'ctime'))
        for entry in array:
            fault_str = 'yes' if entry['fault'] else '---'
            capacity_str = '%d GB' % entry['capacity']
            if entry['hsvrid']:
                if entry['bind_status'] == ATTACH_STATUS['ERROR']:
                    hsvrid_str = '*hsvr-%08x' % entry['hsvrid']
                elif entry['bind_event'] == ATTACH_EVENT['BINDING']:
                    hsvrid_str = '+hsvr-%08x' % entry['hsvrid']
                elif entry['bind_event'] == ATTACH_EVENT['UNBINDING']:
                    hsvrid_str = '-hsvr-%08x' % entry['hsvrid']
                else:
                    hsvrid_str = ' hsvr-%08x' % entry['hsvrid']
            else:
                hsvrid_str = ' ---'
            self.p(column % ('lvol-%08x' % entry['lvolid'], entry['lvolname'], entry['redundancy'], capacity_str,
                             hsvrid_str, fault_str, entry['ctime']))
            for a in entry['associated_to']:
                if a['type'] == 'snapshot':
                    self.p("\tsnapshot of lvol-%08x" % a['lvolid'])
            for a in entry['associated_from']:
                if a['type'] == 'snapshot':
                    self.p("\tsnapshot-origin of lvol-%08x" % a['lvolid'])

    def showLogicalVolume_print(self, lvolstruct):
        column = "%-14s %8s %8s | %-14s %-14s %8s %-14s %-5s"
        assert lvolstruct['lvoltype'] == LVOLTYPE['LVOL']
        lvolid = lvolstruct['lvolid']
        lvolname = lvolstruct['lvolspec']['lvolname']
        lvolstruct = lvolstruct['components'][0]
        assert lvolstruct['lvoltype'] in [LVOLTYPE['SNAPSHOT'], LVOLTYPE['SNAPSHOT-ORIGIN']]
        linear = lvolstruct['components'][0]
        assert linear['lvoltype'] == LVOLTYPE['LINEAR']
        self.p("lvolid: lvol-%08x lvol_name: %s capacity: %s redundancy: %d" % (
            lvolid, lvolname, '%d GB' % linear['capacity'], len(linear['components'][0]['components'])))
        self.p(column % ('mirror', 'offset', 'capacity', 'disk-extent', 'physical-disk', 'offset', 'server', 'sync'))
        offset = 0
        for mirror in linear['components']:
            assert mirror['lvoltype'] == LVOLTYPE['MIRROR']
            self.p(column % ('mirr-%08x' % mirror['lvolid'], '%d GB' % offset, '%d GB' % mirror['capacity'],
                             '', '', '', '', ''))
            offset += mirror['capacity']
            for dext in mirror['components']:
                if dext['lvoltype'] == LVOLTYPE['DEXT']:
                    spec = dext['lvolspec']
                    self.p(column % ('', '', '', 'dext-%08x' % dext['lvolid'], 'pdsk-%08x' % spec['pdskid'],
                                     '%d GB' % spec['offset'], 'ssvr-%08x' % spec['ssvrid'],
                                     MIRROR_STATUS_STR[dext['mirror_status']]))

    def listHeadServers_print(self, array):
        for entry in array:
            self.p("%-14s %-9s %5s" % ('hsvr-%08x' % entry['hsvrid'], ALLOC_PRIORITY_STR[entry['priority']],
                                       entry['resync']))
            for ip in entry['ip_data']:
                self.p("\tinet %s" % ip)

    def listStorageServers_print(self, array):
        capacity_total = sum(e['capacity'] for e in array)
        available_total = sum(e['available'] for e in array)
        self.p('total %d GB available %d GB' % (capacity_total, available_total))
        for entry in array:
            use = (entry['capacity'] - entry['available']) * 100 // entry['capacity'] if entry['capacity'] else 0
            self.p("%-14s %-9s %5s %10s %10s %5s" % (
                'ssvr-%08x' % entry['ssvrid'], ALLOC_PRIORITY_STR[entry['priority']], '%d' % entry['resync'],
                '%3d GB' % entry['capacity'], '%d GB' % entry['available'], '%d%%' % use))
            for ip in entry['ip_data']:
                self.p("\tinet %s" % ip)

    def listPhysicalDisks_print(self, array):
        for entry in array:
            use = (entry['capacity'] - entry['available']) * 100 // entry['capacity'] if entry['capacity'] else 0
            self.p("%-14s %-14s %-9s%6s %10s %10s %5s %-18s" % (
                'pdsk-%08x' % entry['pdskid'], 'ssvr-%08x' % entry['ssvrid'], ALLOC_PRIORITY_STR[entry['priority']],
                '%d' % entry['resync'], '%3d GB' % entry['capacity'], '%d GB' % entry['available'], '%d%%' % use,
                entry['local_path']))

    def take(self):
        s = self.out.getvalue()
        self.out = io.StringIO()
        return s


class Compat30(unittest.TestCase):

    def setUp(self):
        self.old_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(60)  # 3.0: SOCKET_DEFAULT_TIMEOUT
        self.m = Manager().start()
        # 3.0 tries each host of host_list in turn: the first one is down
        self.tool = Tool(["127.0.0.2", "127.0.0.1"], self.m.port)

    def tearDown(self):
        socket.setdefaulttimeout(self.old_timeout)
        self.m.__exit__(None, None, None)

    def expect_fault(self, code, method, subargs):
        try:
            self.tool.sm(method, subargs)
        except xmlrpc.client.Fault as e:
            self.assertEqual(e.faultCode, code)
            self.assertEqual(e.faultString, errno.errorcode[code])
            return
        self.fail("%s did not fail" % method)

    def register_storage(self, i, sectors):
        ssvrid = self.tool.sm("registerStorageServer", {'ip_data': ["127.150.%d.1" % i, "127.151.%d.1" % i]})
        pdskid = self.tool.sm("registerPhysicalDisk", {'ssvrid': ssvrid, 'capacity': str(sectors),
                                                       'local_path': '/dev/disk/by-id/scsi-3600%d' % i})
        return ssvrid, pdskid

    def test_full_cycle(self):
        t = self.tool
        sectors = 100 * 1024 * 1024 * 1024 // 512
        servers = [self.register_storage(i, sectors) for i in range(3)]
        self.assertEqual("ssvr-%08x" % servers[0][0], "ssvr-%08x" % t.get_targetid("ssvr-%08x" % servers[0][0],
                                                                                     "ssvr-"))
        # hsvr_reporter: first boot, then a reboot that finds itself still HIGH
        hsvrid = t.sm("registerHeadServer", {'ip_data': ["127.160.0.1", "127.161.0.1"]})
        self.expect_fault(errno.EEXIST, "registerHeadServer", {'ip_data': ["127.160.0.1", "127.161.0.1"]})
        t.sm("notifyFailure", {'target': TARGET['HSVR'], 'targetid': hsvrid})
        self.assertEqual(t.sm("registerHeadServer", {'ip_data': ["127.160.0.1", "127.161.0.1"]}), hsvrid)
        # ssvr_reporter after a reboot the manager did not notice: EEXIST
        self.expect_fault(errno.EEXIST, "registerStorageServer", {'ip_data': ["127.150.0.1", "127.151.0.1"]})

        # lvol_create vol0 10
        lvolid = t.sm("createLogicalVolume", {'lvolname': 'vol0', 'capacity': 10})
        label = "lvol-%08x" % lvolid
        self.assertEqual(t.get_targetid(label, 'lvol-'), lvolid)
        self.assertEqual(t.cli("createLogicalVolume", {'lvolname': 'vol0', 'capacity': 10}), 1)
        self.assertEqual(t.take().strip(), os.strerror(errno.EEXIST))
        self.expect_fault(errno.EEXIST, "createLogicalVolume", {'lvolname': 'vol0', 'capacity': 10})

        # lvol_list, lvol_show (by name and by label)
        self.assertEqual(t.cli("listLogicalVolumes", {}, t.listLogicalVolumes_print), 0)
        rows = t.take().splitlines()
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[1].split()[:7], [label, 'vol0', '3', '10', 'GB', '---', '---'])
        for arg in ('vol0', label, label[5:]):
            self.assertEqual(t.cli("showLogicalVolume", t.lvol_arg(arg), t.showLogicalVolume_print), 0)
            lines = t.take().splitlines()
            self.assertEqual(lines[0], "lvolid: %s lvol_name: vol0 capacity: 10 GB redundancy: 3" % label)
            mirr = [ln for ln in lines if ln.startswith("mirr-")]
            self.assertEqual([ln.split()[1:5] for ln in mirr],
                             [['0', 'GB', '4', 'GB'], ['4', 'GB', '4', 'GB'], ['8', 'GB', '2', 'GB']])
            dext = [ln for ln in lines if "dext-" in ln]
            self.assertEqual(len(dext), 9)
            self.assertTrue(all(ln.endswith("ALLOCATED") for ln in dext))

        # hsvr_list, ssvr_list, pdsk_list
        self.assertEqual(t.cli("listHeadServers", {}, t.listHeadServers_print), 0)
        self.assertEqual(t.take().split()[:3], ["hsvr-%08x" % hsvrid, "HIGH", "0"])
        self.assertEqual(t.cli("listStorageServers", {}, t.listStorageServers_print), 0)
        out = t.take()
        self.assertIn("total 300 GB", out)
        self.assertIn("\tinet 127.151.2.1", out)
        self.assertEqual(t.cli("listPhysicalDisks", {'ssvrid': servers[1][0]}, t.listPhysicalDisks_print), 0)
        out = t.take().splitlines()
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0].split()[:3], ["pdsk-%08x" % servers[1][1], "ssvr-%08x" % servers[1][0], "HIGH"])

        # lvol_attach, lvol_list, lvol_detach (twice)
        self.assertEqual(t.sm("attachLogicalVolume", {'lvolid': lvolid, 'hsvrid': hsvrid}), 0)
        t.cli("listLogicalVolumes", t.lvol_arg('vol0'), t.listLogicalVolumes_print)
        self.assertIn(" hsvr-%08x" % hsvrid, t.take())
        self.expect_fault(errno.EBUSY, "deleteLogicalVolume", {'lvolid': lvolid})
        self.expect_fault(errno.EBUSY, "shutdownAll", {})
        self.assertEqual(t.sm("detachLogicalVolume", t.lvol_arg(label)), 0)
        self.assertEqual(t.sm("detachLogicalVolume", t.lvol_arg(label)), 0)

        # snap_create, and the list lines it makes
        snapid = t.sm("createSnapshot", {'origin_lvolid': lvolid, 'snapshot_lvolname': 'snap0'})
        t.cli("listLogicalVolumes", {}, t.listLogicalVolumes_print)
        out = t.take().splitlines()
        snap_row = [i for i, ln in enumerate(out) if ln.startswith("lvol-%08x" % snapid)][0]
        origin_row = [i for i, ln in enumerate(out) if ln.startswith(label)][0]
        self.assertEqual(out[snap_row + 1], "\tsnapshot of %s" % label)
        self.assertEqual(out[origin_row + 1], "\tsnapshot-origin of lvol-%08x" % snapid)
        # A snapshot is a volume of its own now (3.0 refused to attach it).
        self.assertEqual(t.sm("attachLogicalVolume", {'lvolid': snapid, 'hsvrid': hsvrid}), 0)
        self.assertEqual(t.sm("detachLogicalVolume", {'lvolid': snapid}), 0)
        self.assertEqual(t.sm("deleteLogicalVolume", {'lvolname': 'snap0'}), 0)

        # lvol_delete, then the volume is gone
        self.assertEqual(t.sm("deleteLogicalVolume", t.lvol_arg(label)), 0)
        self.expect_fault(errno.ENOENT, "listLogicalVolumes", {'lvolid': lvolid})
        self.expect_fault(errno.ENOENT, "showLogicalVolume", {'lvolname': 'vol0'})
        self.assertEqual(t.cli("deleteLogicalVolume", t.lvol_arg('vol0')), 1)
        self.assertEqual(t.take().strip(), os.strerror(errno.ENOENT))
        self.assertEqual(t.sm("listLogicalVolumes", {}), [])
        self.assertIsInstance(t.sm("listEvents", {}), list)

        # admin deletes refuse live servers; service vas_sm shutdown; reboot
        self.expect_fault(errno.EBUSY, "deleteHeadServer", {'hsvrid': hsvrid})
        self.expect_fault(errno.EBUSY, "deletePhysicalDisk", {'pdskid': servers[0][1]})
        self.expect_fault(errno.EBUSY, "deleteStorageServer", {'ssvrid': servers[0][0]})
        self.assertEqual(t.sm("shutdownAll", {}), 0)
        self.assertEqual([self.register_storage(i, sectors) for i in range(3)], servers)
        self.assertEqual(t.sm("registerHeadServer", {'ip_data': ["127.160.0.1", "127.161.0.1"]}), hsvrid)

    def test_protocol_mismatch_is_eproto(self):
        agent = xmlrpc.client.ServerProxy("http://admin:%s@127.0.0.1:%d" % (SECRET, self.m.port))
        try:
            agent.listLogicalVolumes({'ver': 3})
        except xmlrpc.client.Fault as inst:
            self.assertEqual((inst.faultCode, inst.faultString), (errno.EPROTO, 'EPROTO'))
        else:
            self.fail("ver 3 accepted")

    def test_manager_down_is_ehostdown(self):
        self.m.stop()
        self.expect_fault(errno.EHOSTDOWN, "listLogicalVolumes", {})


if __name__ == "__main__":
    unittest.main()
