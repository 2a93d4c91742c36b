#!/usr/bin/env python3
"""What a VM-lab test asks of the cluster, in one process (a python start
costs ~0.5 s under TCG):
    lab_state.py MANAGER_URL HEAD_URL CA_FILE SECRET_FILE COMMAND [ARGS...]
  servers                 "ssvrid ip priority" per storage server
  legs LVOL...            "lvolname lvolid mirrorid chunkid pdskid ssvrid status" per leg
  healed SERVERS LVOL...  exit 0 if redundancy is whole: SERVERS storage servers
                          and the head live, rebuild queue empty, no mirror
                          degraded, every volume BOUND with exactly its
                          redundancy of INSYNC legs per mirror, and the head's
                          raid1 devices all 'A' and idle. Else prints why, exits 1.
Calls are bounded (60 s each): a hung daemon fails the question."""
import json
import socket
import ssl
import sys
import xmlrpc.client

MIRROR, DEXT, INSYNC, BOUND, LIVE = 2, 3, 2, 1, (1, 2)

mgr_url, head_url, ca, secret_file, command = sys.argv[1:6]
args = sys.argv[6:]
secret = open(secret_file).read().strip()
ctx = ssl.create_default_context(cafile=ca)
socket.setdefaulttimeout(60)


def call(url, method, **members):
    members["ver"] = 5
    proxy = xmlrpc.client.ServerProxy(url.replace("://", "://admin:%s@" % secret, 1), context=ctx)
    return getattr(proxy, method)(members)


def legs(lvolname):
    """(lvolid, redundancy, [(mirrorid, chunkid, pdskid, ssvrid, status)])"""
    tree = call(mgr_url, "showLogicalVolume", lvolname=lvolname)
    out = []

    def walk(node, mirror):
        if node["lvoltype"] == MIRROR:
            mirror = node["lvolid"]
        if node["lvoltype"] == DEXT:
            spec = node["lvolspec"]
            out.append((mirror, node["lvolid"], spec["pdskid"], spec["ssvrid"], node["mirror_status"]))
        for c in node.get("components", []):
            walk(c, mirror)
    walk(tree, 0)
    return tree["lvolid"], tree["lvolspec"]["redundancy"], out


def why_not_healed(servers, lvols):
    st = call(mgr_url, "getClusterStatus")
    if st["rebuilds_queued"] + st["rebuilds_running"]:
        return "rebuilds: %d queued, %d running" % (st["rebuilds_queued"], st["rebuilds_running"])
    if st["mirrors_degraded"]:
        return "%d mirror(s) degraded" % st["mirrors_degraded"]
    live = [s["ssvrid"] for s in call(mgr_url, "listStorageServers") if s["priority"] in LIVE]
    if len(live) != servers:
        return "%d storage servers live (%s), not %d" % (len(live), live, servers)
    if st["hsvrs_online"] < 1:
        return "no head online"
    heads = {v["lvolname"]: v for v in call(head_url, "listVolumes")}
    for name in lvols:
        lv = call(mgr_url, "listLogicalVolumes", lvolname=name)[0]
        if lv["bind_status"] != BOUND or lv["bind_event"]:
            return "%s: bind_status %d, bind_event %d" % (name, lv["bind_status"], lv["bind_event"])
        _, redundancy, lg = legs(name)
        for m in sorted({l[0] for l in lg}):
            mine = [l for l in lg if l[0] == m]
            if len(mine) != redundancy or any(l[4] != INSYNC for l in mine):
                return "%s mirror %d: legs (chunk:status) %s" % (
                    name, m, " ".join("%d:%d" % (l[1], l[4]) for l in mine))
        h = heads.get(name)
        if not h or not h["assembled"]:
            return "%s: not assembled on the head" % name
        for m in h["mirrors"]:
            done, total = m["sync"].split("/")
            if m["health"] != "A" * redundancy or m["action"] != "idle" or done != total:
                return "%s mirror %d on the head: %s %s %s" % (name, m["mirrorid"], m["health"], m["sync"], m["action"])
    return None


try:
    if command == "servers":
        for s in call(mgr_url, "listStorageServers"):
            print(s["ssvrid"], s["ip_data"][0] if s["ip_data"] else "-", s["priority"])
    elif command == "legs":
        for name in args:
            lvolid, _, lg = legs(name)
            for l in lg:
                print(name, lvolid, *l)
    elif command == "healed":
        why = why_not_healed(int(args[0]), args[1:])
        if why:
            print(why)
            sys.exit(1)
    else:
        sys.exit("unknown command " + command)
except (xmlrpc.client.Fault, OSError, xmlrpc.client.ProtocolError) as e:
    print("%s: %s" % (command, e))
    sys.exit(2)
