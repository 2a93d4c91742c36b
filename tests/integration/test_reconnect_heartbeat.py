"""The manager side of the agents' protocol: `reconnect` on the register
methods and `heartbeat` with `last_seen` (manager/API.md, "New methods")."""
from harness import ISO_UTC, UNKNOWN_ID, ManagerCase, disk_sectors, req


class ReconnectHeartbeat(ManagerCase):
    def test_storage_server_reconnect(self):
        ips = ["127.210.0.1", "127.210.0.2"]
        s = self.api.registerStorageServer(req(ip_data=ips))
        self.assertFault("EEXIST", "registerStorageServer", req(ip_data=ips))
        self.assertFault("EEXIST", "registerStorageServer", req(ip_data=ips, reconnect=False))
        self.assertEqual(self.api.registerStorageServer(req(ip_data=list(reversed(ips)), reconnect=True)), s)
        # A different set of addresses is another server, reconnect or not.
        self.assertFault("EEXIST", "registerStorageServer", req(ip_data=ips[:1], reconnect=True))
        self.assertFault("EINVAL", "registerStorageServer", req(ip_data=ips, reconnect=1))
        d = self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/rc0", capacity=disk_sectors(10)))
        self.assertFault("EEXIST", "registerPhysicalDisk", req(ssvrid=s, local_path="/dev/rc0", capacity=disk_sectors(10)))
        self.assertEqual(self.api.registerPhysicalDisk(req(ssvrid=s, local_path="/dev/rc0", capacity=disk_sectors(10),
                                                           reconnect=True)), d)
        self.assertFault("EINVAL", "registerPhysicalDisk", req(ssvrid=s, local_path="/dev/rc0", capacity=disk_sectors(9),
                                                               reconnect=True))
        self.assertEqual(len([x for x in self.api.listPhysicalDisks(req(ssvrid=s))]), 1)

    def test_head_server_reconnect(self):
        h = self.api.registerHeadServer(req(ip_data=["127.211.0.1"]))
        self.assertFault("EEXIST", "registerHeadServer", req(ip_data=["127.211.0.1"]))
        self.assertEqual(self.api.registerHeadServer(req(ip_data=["127.211.0.1"], reconnect=True)), h)

    def test_heartbeat_and_last_seen(self):
        s = self.api.registerStorageServer(req(ip_data=["127.212.0.1"]))
        h = self.api.registerHeadServer(req(ip_data=["127.212.0.2"]))
        self.assertEqual(self.api.heartbeat(req(ssvrid=s)), 0)
        self.assertEqual(self.api.heartbeat(req(hsvrid=h)), 0)
        self.assertRegex(self.api.listStorageServers(req(ssvrid=s))[0]["last_seen"], ISO_UTC)
        self.assertRegex(self.api.listHeadServers(req(hsvrid=h))[0]["last_seen"], ISO_UTC)
        self.assertFault("ENOENT", "heartbeat", req(ssvrid=UNKNOWN_ID))
        self.assertFault("ENOENT", "heartbeat", req(hsvrid=UNKNOWN_ID))
        self.assertFault("EINVAL", "heartbeat", req())
        self.assertFault("EINVAL", "heartbeat", req(ssvrid=s, hsvrid=h))
        self.assertFault("EINVAL", "heartbeat", req(ssvrid="x"))
        self.assertFault("EPROTO", "heartbeat", {"ssvrid": s})
