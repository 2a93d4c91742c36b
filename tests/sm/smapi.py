"""xapi's side of the SMAPIv1 exec protocol, for testing a driver binary.

Requests are built the way xen-api's sm_exec.ml builds them: one compact
methodCall (no declaration, no whitespace), a single struct parameter
whose members come in xmlrpc_of_call's order, strings as bare <value>s,
the empty string as <value/>, SRmaster inside device_config. The driver
runs with that document as argv[1] and ORIGINATOR=SM; its stdout must be
one methodResponse, its exit status 0. Results are parsed and type-checked
as sm.ml parses them, and faults become the XenAPI errors xapi raises."""
import os
import subprocess
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

# xmlrpc_of_call's member order (optional members left out when absent).
MEMBER_ORDER = ["host_ref", "command", "args", "device_config", "session_ref", "sr_sm_config", "sr_ref",
                "vdi_type", "sr_uuid", "vdi_ref", "vdi_location", "vdi_uuid", "driver_params", "vdi_sm_config",
                "new_uuid", "subtask_of", "vdi_on_boot", "vdi_allow_caching", "local_cache_sr"]

NAMED_FAULTS = {16: "SR_DEVICE_IN_USE", 24: "VDI_IN_USE", 38: "SR_OPERATION_NOT_SUPPORTED",
                39: "SR_NOT_EMPTY", 144: "VDI_MISSING"}


def x_string(s):
    return "<value/>" if s == "" else "<value>%s</value>" % escape(s)


def x_struct(d):
    return "<value><struct>%s</struct></value>" % "".join(
        "<member><name>%s</name>%s</member>" % (escape(k), x_value(v)) for k, v in d.items())


def x_array(items):
    return "<value><array><data>%s</data></array></value>" % "".join(x_value(v) for v in items)


def x_value(v):
    if isinstance(v, str):
        return x_string(v)
    if isinstance(v, dict):
        return x_struct(v)
    if isinstance(v, (list, tuple)):
        return x_array(v)
    if isinstance(v, bool):
        return "<value><boolean>%d</boolean></value>" % v
    raise TypeError(v)


def method_call(name, params):
    return "<methodCall><methodName>%s</methodName><params>%s</params></methodCall>" % (
        escape(name), "".join("<param>%s</param>" % x_value(p) for p in params))


def sm_request(command, args=(), device_config=None, master=True, **members):
    """The methodCall xapi sends for `command`. device_config gets SRmaster
    (except for sr_get_driver_info); members are the optional ones."""
    m = dict(members)
    m["command"] = command
    m["args"] = list(args)
    dc = dict(device_config or {})
    if command != "sr_get_driver_info":
        dc["SRmaster"] = "true" if master else "false"
    m["device_config"] = dc
    ordered = {k: m[k] for k in MEMBER_ORDER if k in m and m[k] is not None}
    unknown = set(m) - set(MEMBER_ORDER)
    if unknown:
        raise ValueError("not an sm_exec member: %s" % unknown)
    return method_call(command, [ordered])


class Fault(Exception):
    """A driver fault as xapi reports it: `error` is the XenAPI error name."""

    def __init__(self, code, string, stderr):
        self.code, self.string, self.stderr = code, string, stderr
        self.error = NAMED_FAULTS.get(code, "SR_BACKEND_FAILURE_%d" % code)
        super().__init__("%s (%d): %s" % (self.error, code, string))


class ProtocolError(AssertionError):
    """What xapi would report as a broken driver (non-zero exit, bad XML)."""


def parse_value(v):
    """An XML-RPC <value> element as xapi's XMLRPC.From reads it."""
    children = list(v)
    if not children:
        return v.text or ""  # bare string
    if len(children) != 1:
        raise ProtocolError("a <value> with %d children" % len(children))
    c = children[0]
    if c.tag == "string":
        return c.text or ""
    if c.tag in ("int", "i4"):
        return int(c.text)
    if c.tag == "boolean":
        if c.text not in ("0", "1"):
            raise ProtocolError("boolean %r" % c.text)
        return c.text == "1"
    if c.tag == "nil":
        return None
    if c.tag == "struct":
        out = {}
        for member in c:
            name, value = member.find("name"), member.find("value")
            if member.tag != "member" or name is None or value is None:
                raise ProtocolError("malformed struct member")
            out[name.text or ""] = parse_value(value)
        return out
    if c.tag == "array":
        data = c.find("data")
        if data is None:
            raise ProtocolError("array without data")
        return [parse_value(e) for e in data]
    raise ProtocolError("unexpected value type <%s>" % c.tag)


def parse_response(stdout):
    """(result, None) or (None, (code, string)), checking that stdout is one
    methodResponse document and nothing else."""
    try:
        root = ET.fromstring(stdout)
    except ET.ParseError as e:
        raise ProtocolError("stdout is not one XML document (%s): %r" % (e, stdout[:400]))
    if root.tag != "methodResponse":
        raise ProtocolError("root element %s" % root.tag)
    fault = root.find("fault")
    if fault is not None:
        f = parse_value(fault.find("value"))
        if not isinstance(f, dict) or not isinstance(f.get("faultCode"), int) or \
                not isinstance(f.get("faultString"), str):
            raise ProtocolError("malformed fault %r" % f)
        return None, (f["faultCode"], f["faultString"])
    params = root.find("params")
    if params is None or len(params) != 1 or params[0].find("value") is None:
        raise ProtocolError("a response must have exactly one param")
    return parse_value(params[0].find("value")), None


def _is_str_map(v):
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def check_result(command, result):
    """The type checks of sm.ml's parsers for each command's result."""
    if command == "sr_get_driver_info":
        for k in ("name", "description", "vendor", "copyright", "driver_version", "required_api_version"):
            assert isinstance(result.get(k), str), "driver info lacks %s" % k
        assert isinstance(result.get("capabilities"), list) and all(isinstance(c, str) for c in result["capabilities"])
        assert isinstance(result.get("configuration"), list)
        for c in result["configuration"]:
            assert set(c) == {"key", "description"} and all(isinstance(x, str) for x in c.values()), c
    elif command in ("vdi_create", "vdi_introduce", "vdi_resize", "vdi_resize_online", "vdi_snapshot", "vdi_clone"):
        assert isinstance(result, dict) and isinstance(result.get("uuid"), str) and \
            isinstance(result.get("location"), str), "want {uuid, location}, got %r" % result
    elif command == "vdi_attach":
        assert isinstance(result, dict) and isinstance(result.get("params_nbd"), str), \
            "vdi_attach must return params_nbd: %r" % result
        assert isinstance(result.get("params", ""), str)
        assert isinstance(result.get("o_direct", True), bool)
        assert isinstance(result.get("o_direct_reason", ""), str)
        assert _is_str_map(result.get("xenstore_data", {}))
    elif command == "vdi_attach_from_config":
        # static-vdis connects over NBD whenever params_nbd is present, even "".
        assert isinstance(result, dict) and isinstance(result.get("params"), str), result
        assert "params_nbd" not in result or result["params_nbd"].startswith("nbd:"), result
        assert isinstance(result.get("o_direct", True), bool)
        assert isinstance(result.get("o_direct_reason", ""), str)
        assert _is_str_map(result.get("xenstore_data", {}))
    elif command in ("sr_probe", "vdi_generate_config", "sr_content_type", "vdi_list_changed_blocks"):
        assert isinstance(result, str), "want a string, got %r" % result
    else:
        assert result is None, "%s must return nil, got %r" % (command, result)


def run_driver(binary, request, env=None, timeout=900):
    """Runs the driver as sm_exec does; returns (result) or raises Fault."""
    e = dict(os.environ if env is None else env)
    e["ORIGINATOR"] = "SM"
    p = subprocess.run([binary, request], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=timeout)
    stdout, stderr = p.stdout.decode(), p.stderr.decode()
    if p.returncode != 0:
        raise ProtocolError("non-zero exit %d; stdout %r; stderr %r" % (p.returncode, stdout[:400], stderr[-400:]))
    result, fault = parse_response(stdout)
    if fault:
        raise Fault(fault[0], fault[1], stderr)
    return result
