#!/usr/bin/env python3
"""One XML-RPC call from a VM-lab script, the way the manager makes it:
    rpc.py URL CA_FILE SECRET_FILE METHOD '{"member": ...}'
'ver' is added. Prints the result as JSON; on a fault prints its symbolic
name (faultString) to stderr and exits 1. VS_RPC_TIMEOUT: seconds to wait
for the answer (default 120)."""
import json
import os
import socket
import ssl
import sys
import xmlrpc.client

url, ca, secret_file, method, members = sys.argv[1:6]
secret = open(secret_file).read().strip()
url = url.replace("://", "://admin:%s@" % secret, 1)
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
params = json.loads(members)
# A daemon that hangs fails the check instead of the whole lab run.
socket.setdefaulttimeout(float(os.environ.get("VS_RPC_TIMEOUT", "120")))
params["ver"] = 5
try:
    print(json.dumps(getattr(xmlrpc.client.ServerProxy(url, context=ctx), method)(params)))
except xmlrpc.client.Fault as f:
    print(f.faultString, file=sys.stderr)
    sys.exit(1)
