"""A fake xapi for driver tests: XenAPI's XML-RPC over HTTP on a unix
socket (as /var/lib/xcp/xapi), with an in-memory database of the pool, its
hosts, SRs, VDIs and secrets. It answers as XenAPI does ({Status, Value} or
{Status: Failure, ErrorDescription}, int64s as strings), checks argument
counts and types the way the real server rejects them, records every call,
and runs host plugins the way host.call_plugin does (argv[1] = a methodCall
of (session, args); the plugin's {Status, Value} envelope on stdout)."""
import http.server
import os
import re
import socketserver
import subprocess
import threading
import uuid as uuidlib
import xmlrpc.client

from smapi import method_call


class Failure(Exception):
    def __init__(self, *description):
        self.description = list(description)


def _ref(kind):
    return "OpaqueRef:%s" % uuidlib.uuid4()


class FakeXapi:
    """The database and the XenAPI methods drivers use."""

    def __init__(self, socket_path, plugin_dir=None, hosts=("host-a",)):
        self.socket_path = socket_path
        self.plugin_dir = plugin_dir
        self.plugin_env = None  # environment for plugins (their sm.conf)
        self.session = "OpaqueRef:" + str(uuidlib.uuid4())
        self.calls = []
        self.lock = threading.Lock()
        self.hosts = {}
        for name in hosts:
            self.hosts[_ref("host")] = {"uuid": str(uuidlib.uuid4()), "name_label": name}
        self.srs, self.vdis, self.secrets = {}, {}, {}
        self.server = None

    # --- database set-up (what xapi itself does around driver calls) ---
    def host_refs(self):
        return list(self.hosts)

    def add_sr(self):
        ref = _ref("SR")
        self.srs[ref] = {"uuid": str(uuidlib.uuid4()), "physical_size": "0", "physical_utilisation": "0",
                         "virtual_allocation": "0", "other_config": {}, "sizes_set": False}
        return ref

    def add_secret(self, value):
        u = str(uuidlib.uuid4())
        self.secrets[_ref("secret")] = {"uuid": u, "value": value}
        return u

    def vdis_of(self, sr_ref):
        return {r: v for r, v in self.vdis.items() if v["SR"] == sr_ref}

    def vdi_by_uuid(self, u):
        for r, v in self.vdis.items():
            if v["uuid"] == u:
                return r, v
        return None, None

    def vdi_by_location(self, sr_ref, location):
        for r, v in self.vdis_of(sr_ref).items():
            if v["location"] == location:
                return r, v
        return None, None

    # --- XenAPI methods ---
    def _str(self, v, what):
        if not isinstance(v, str):
            raise Failure("FIELD_TYPE_ERROR", what)
        return v

    def _int64(self, v, what):
        if not isinstance(v, str) or not re.fullmatch(r"-?[0-9]+", v):
            raise Failure("FIELD_TYPE_ERROR", what)  # XenAPI takes int64s as strings
        return v

    def _vdi(self, ref):
        if ref not in self.vdis:
            raise Failure("HANDLE_INVALID", "VDI", ref)
        return self.vdis[ref]

    def _sr(self, ref):
        if ref not in self.srs:
            raise Failure("HANDLE_INVALID", "SR", ref)
        return self.srs[ref]

    def VDI_db_introduce(self, *p):
        if len(p) != 19:
            raise Failure("MESSAGE_PARAMETER_COUNT_MISMATCH", "VDI.db_introduce", "20", str(len(p) + 1))
        (u, name, desc, sr, typ, sharable, read_only, other_config, location, xenstore_data, sm_config, managed,
         vsize, putil, metadata_of_pool, is_a_snapshot, snapshot_time, snapshot_of, cbt_enabled) = p
        for v, what in ((u, "uuid"), (name, "name_label"), (desc, "name_description"), (typ, "type"),
                        (location, "location"), (metadata_of_pool, "metadata_of_pool"), (snapshot_of, "snapshot_of")):
            self._str(v, what)
        for v, what in ((sharable, "sharable"), (read_only, "read_only"), (managed, "managed"),
                        (is_a_snapshot, "is_a_snapshot"), (cbt_enabled, "cbt_enabled")):
            if not isinstance(v, bool):
                raise Failure("FIELD_TYPE_ERROR", what)
        for v, what in ((other_config, "other_config"), (xenstore_data, "xenstore_data"), (sm_config, "sm_config")):
            if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                raise Failure("FIELD_TYPE_ERROR", what)
        if not isinstance(snapshot_time, xmlrpc.client.DateTime):
            raise Failure("FIELD_TYPE_ERROR", "snapshot_time")
        self._int64(vsize, "virtual_size")
        self._int64(putil, "physical_utilisation")
        self._sr(sr)
        if typ not in ("user", "system", "ha_statefile", "redo_log", "metadata", "crashdump", "suspend",
                       "cbt_metadata", "rrd", "pvs_cache", "ephemeral"):
            raise Failure("ENUM_INVALID", "type", typ)
        if self.vdi_by_location(sr, location)[0]:
            raise Failure("LOCATION_NOT_UNIQUE", sr, location)
        if self.vdi_by_uuid(u)[0]:  # the database's uniqueness constraint
            raise Failure("INTERNAL_ERROR", "Db_exn.Uniqueness_constraint_violation(VDI, uuid, %s)" % u)
        if snapshot_of != "OpaqueRef:NULL":
            self._vdi(snapshot_of)  # a Ref _vdi: xapi would keep a dangling one, but no driver should send it
        ref = _ref("VDI")
        self.vdis[ref] = {"uuid": u, "name_label": name, "name_description": desc, "SR": sr, "type": typ,
                          "location": location, "sm_config": dict(sm_config), "virtual_size": vsize,
                          "physical_utilisation": putil, "read_only": read_only, "managed": managed,
                          "is_a_snapshot": is_a_snapshot, "snapshot_of": snapshot_of,
                          "snapshot_time": snapshot_time.value, "cbt_enabled": cbt_enabled}
        return ref

    def VDI_db_forget(self, ref):
        self._vdi(ref)
        del self.vdis[ref]
        return ""

    def VDI_get_by_uuid(self, u):
        ref, _ = self.vdi_by_uuid(self._str(u, "uuid"))
        if not ref:
            raise Failure("UUID_INVALID", "VDI", u)
        return ref

    def VDI_get_all_records_where(self, expr):
        m = re.fullmatch(r'field "SR" = "([^"]*)"', expr)
        if not m:
            raise Failure("INVALID_EXPRESSION", expr)  # the only query drivers make
        return {r: self.VDI_get_record(r) for r in self.vdis_of(m.group(1))}

    def VDI_get_record(self, ref):
        rec = dict(self._vdi(ref))
        rec["snapshot_time"] = xmlrpc.client.DateTime(rec.get("snapshot_time", "19700101T00:00:00Z"))
        return rec

    def VDI_set_cbt_enabled(self, ref, v):
        if not isinstance(v, bool):
            raise Failure("FIELD_TYPE_ERROR", "value")
        self._vdi(ref)["cbt_enabled"] = v
        return ""

    def VDI_set_virtual_size(self, ref, v):
        self._vdi(ref)["virtual_size"] = self._int64(v, "value")
        return ""

    def VDI_set_physical_utilisation(self, ref, v):
        self._vdi(ref)["physical_utilisation"] = self._int64(v, "value")
        return ""

    def VDI_get_sm_config(self, ref):
        return dict(self._vdi(ref)["sm_config"])

    def VDI_add_to_sm_config(self, ref, k, v):
        sm = self._vdi(ref)["sm_config"]
        if k in sm:
            raise Failure("MAP_DUPLICATE_KEY", "VDI", "sm_config", ref, k)
        sm[self._str(k, "key")] = self._str(v, "value")
        return ""

    def VDI_remove_from_sm_config(self, ref, k):
        self._vdi(ref)["sm_config"].pop(k, None)
        return ""

    def SR_set_physical_size(self, ref, v):
        self._sr(ref)["physical_size"] = self._int64(v, "value")
        self.srs[ref]["sizes_set"] = True
        return ""

    def SR_set_physical_utilisation(self, ref, v):
        self._sr(ref)["physical_utilisation"] = self._int64(v, "value")
        return ""

    def SR_set_virtual_allocation(self, ref, v):
        self._sr(ref)["virtual_allocation"] = self._int64(v, "value")
        return ""

    def SR_add_to_other_config(self, ref, k, v):
        oc = self._sr(ref)["other_config"]
        if k in oc:
            raise Failure("MAP_DUPLICATE_KEY", "SR", "other_config", ref, k)
        oc[k] = v
        return ""

    def secret_get_by_uuid(self, u):
        for r, s in self.secrets.items():
            if s["uuid"] == u:
                return r
        raise Failure("UUID_INVALID", "secret", u)

    def secret_get_value(self, ref):
        if ref not in self.secrets:
            raise Failure("HANDLE_INVALID", "secret", ref)
        return self.secrets[ref]["value"]

    def host_get_all(self):
        return list(self.hosts)

    def host_get_name_label(self, ref):
        if ref not in self.hosts:
            raise Failure("HANDLE_INVALID", "host", ref)
        return self.hosts[ref]["name_label"]

    def host_call_plugin(self, host, plugin, fn, args):
        if host not in self.hosts:
            raise Failure("HANDLE_INVALID", "host", host)
        path = os.path.join(self.plugin_dir or "/nonexistent", plugin)
        if not os.access(path, os.X_OK):
            raise Failure("XENAPI_MISSING_PLUGIN", plugin)
        env = self.hosts[host].get("plugin_env", self.plugin_env)
        p = subprocess.run([path, method_call(fn, [self.session, args])], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        if p.returncode != 0:
            raise Failure("XENAPI_PLUGIN_FAILURE", "non-zero exit", p.stdout.decode(), p.stderr.decode())
        try:
            (envelope,), _ = xmlrpc.client.loads(p.stdout.decode())
        except xmlrpc.client.Fault as f:
            raise Failure("XENAPI_PLUGIN_FAILURE", "fault", str(f.faultCode), f.faultString)
        if envelope.get("Status") != "Success":
            raise Failure(*envelope.get("ErrorDescription", ["XENAPI_PLUGIN_FAILURE"]))
        if not isinstance(envelope.get("Value"), str):
            raise Failure("XENAPI_PLUGIN_FAILURE", "the plugin's value is not a string", repr(envelope.get("Value")))
        return envelope["Value"]

    # --- the server ---
    def dispatch(self, method, params):
        with self.lock:
            self.calls.append((method, params[1:] if params else ()))
            if not params or params[0] != self.session:
                return {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", str(params[:1])]}
            fn = getattr(self, method.replace(".", "_"), None)
            if fn is None:
                return {"Status": "Failure", "ErrorDescription": ["MESSAGE_METHOD_UNKNOWN", method]}
            try:
                return {"Status": "Success", "Value": fn(*params[1:])}
            except Failure as f:
                return {"Status": "Failure", "ErrorDescription": f.description}
            except TypeError as e:
                return {"Status": "Failure", "ErrorDescription": ["MESSAGE_PARAMETER_COUNT_MISMATCH", method, str(e)]}

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    params, method = xmlrpc.client.loads(body.decode(), use_datetime=False)
                    answer = fake.dispatch(method, params)
                except Exception as e:  # a malformed request: xapi answers a fault
                    answer = {"Status": "Failure", "ErrorDescription": ["XMLRPC_UNMARSHAL_FAILURE", str(e)]}
                out = xmlrpc.client.dumps((answer,), methodresponse=True, allow_none=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

            def address_string(self):
                return "unix"

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self.server = Server(self.socket_path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
