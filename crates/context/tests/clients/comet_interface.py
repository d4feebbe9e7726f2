"""A COMET client written the way the real ones are (ORCA's controller, neuca-guest-tools'
CometInterface): `requests`, query parameters, `Accept: application/json`, bodies
`{"val_": "<JSON as a string>"}`, and values decoded twice. The Rust tests run it against the
server and read its last line: "OK" or the failed check.

usage: comet_interface.py BASE_URL [CA_CERT CLIENT_CERT CLIENT_KEY]
"""
import json
import sys

import requests


class CometInterface:
    def __init__(self, host, ca=None, cert=None):
        self.host = host.rstrip("/")
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        self.verify = ca if ca else True
        self.cert = cert

    def _call(self, method, path, params, data=None):
        r = requests.request(method, self.host + path, params=params, headers=self.headers,
                             data=data, verify=self.verify, cert=self.cert, timeout=10)
        return r

    def update_family(self, slice_id, rid, read, write, family, value):
        params = {"contextID": slice_id, "family": family, "Key": rid,
                  "readToken": read, "writeToken": write}
        return self._call("POST", "/writeScope", params, json.dumps({"val_": json.dumps(value)}))

    def get_family(self, slice_id, rid, read, family):
        params = {"contextID": slice_id, "family": family, "Key": rid, "readToken": read}
        return self._call("GET", "/readScope", params)

    def enumerate_families(self, slice_id, read, family=None):
        params = {"contextID": slice_id, "readToken": read}
        if family is not None:
            params["family"] = family
        return self._call("GET", "/enumerateScope", params)

    def delete_family(self, slice_id, rid, read, write, family):
        params = {"contextID": slice_id, "family": family, "Key": rid,
                  "readToken": read, "writeToken": write}
        return self._call("DELETE", "/deleteScope", params)


def decoded(entry_value):
    """What every client does with a stored value: JSON, then its val_ as JSON again."""
    return json.loads(json.loads(entry_value)["val_"])


def check(what, condition):
    if not condition:
        print("FAILED: " + what)
        sys.exit(1)


def main():
    base = sys.argv[1]
    tls = sys.argv[2:5]
    c = CometInterface(base, ca=tls[0], cert=(tls[1], tls[2])) if tls else CometInterface(base)
    s, read, write = "slice-py-%s" % base.rsplit(":", 1)[-1].strip("/"), "rt-123456", "wt-654321"
    users = [{"user": "root", "sudo": "yes", "key": ["ssh-rsa AAAA alice"]}]
    hosts = [{"hostName": "vm1", "ip": "10.0.0.1"}]

    r = c.update_family(s, "vm1", read, write, "users", users)
    check("write status %s" % r.status_code, r.status_code == 200)
    body = r.json()
    check("envelope %s" % body, body["status"] == "OK" and body["message"] == "success"
          and "version" in body and "Success" in body["value"])
    check("CORS header", r.headers.get("Access-Control-Allow-Origin") == "*")

    r = c.get_family(s, "vm1", read, "users").json()
    v = r["value"]
    check("read %s" % r, v["contextId"] == s and v["family"] == "users" and v["key"] == "vm1")
    check("decoded twice", decoded(v["value"]) == users)
    check("verbatim body", v["value"] == json.dumps({"val_": json.dumps(users)}))

    check("wrong read token gives {}", c.get_family(s, "vm1", "nope", "users").json()["value"] == {})
    check("missing entry gives {}", c.get_family(s, "vm9", read, "users").json()["value"] == {})

    r = c.update_family(s, "vm1", read, "wt-wrong", "users", []).json()
    check("overwrite with a wrong write token refused %s" % r, "error" in r["value"])
    check("value unchanged", decoded(c.get_family(s, "vm1", read, "users").json()["value"]["value"]) == users)
    r = c.update_family(s, "vm2", "same-token", "same-token", "users", [])
    check("readToken == writeToken is a 400 %s" % r.text, r.status_code == 400
          and r.json()["message"] == "Invalid tokens: read and write token cannot be the same")

    for i, name in enumerate(["vm1", "vm2", "vm3"]):
        c.update_family(s, name, read, write, "hostsall", [{"hostName": name, "ip": "10.0.0.%d" % (i + 1)}])
    r = c.enumerate_families(s, read, "hostsall").json()["value"]
    check("enumerate one family %s" % r, r["contextId"] == s and r["family"] == "hostsall"
          and sorted(e["key"] for e in r["entries"]) == ["vm1", "vm2", "vm3"])
    check("entries decode", decoded(r["entries"][0]["value"])[0]["hostName"] == r["entries"][0]["key"])
    r = c.enumerate_families(s, read).json()["value"]
    check("enumerate all families", sorted((e["family"], e["key"]) for e in r["entries"])
          == [("hostsall", "vm1"), ("hostsall", "vm2"), ("hostsall", "vm3"), ("users", "vm1")])
    check("enumerate with a wrong token", c.enumerate_families(s, "nope").json()["value"]["entries"] == [])

    r = c.delete_family(s, "vm2", read, "wt-wrong", "hostsall").json()
    check("delete with a wrong write token refused", "error" in r["value"])
    r = c.delete_family(s, "vm2", "rt-wrong", write, "hostsall").json()
    check("delete with a wrong read token refused", "error" in r["value"])
    check("still there", c.get_family(s, "vm2", read, "hostsall").json()["value"]["key"] == "vm2")
    r = c.delete_family(s, "vm2", read, write, "hostsall").json()
    check("delete %s" % r, "Success" in r["value"])
    check("deleted", c.get_family(s, "vm2", read, "hostsall").json()["value"] == {})

    r = requests.get(base.rstrip("/") + "/readScope", params={"contextID": s, "family": "users",
                     "Key": "vm1", "readToken": read}, verify=c.verify, cert=c.cert,
                     headers={"Accept": "text/html"})
    check("400 without Accept: application/json", r.status_code == 400)
    r = c._call("GET", "/getVersion", {})
    check("getVersion %s" % r.text, r.status_code == 200 and "version" in r.json()["value"]
          and "Comet version" in r.json()["value"] and "Comet API version" in r.json()["value"])
    # The seed's host lists end in "/", and clients join them with "/writeScope".
    slashed = CometInterface(base, ca=c.verify if tls else None, cert=c.cert)
    slashed.host = base.rstrip("/") + "/"
    r = slashed.update_family(s, "vm4", read, write, "hostsall", hosts)
    check("//writeScope %s %s" % (r.status_code, r.text), r.status_code == 200
          and "Success" in r.json()["value"])
    r = slashed.enumerate_families(s, read, "hostsall")
    check("//enumerateScope %s" % r.text, r.status_code == 200
          and "vm4" in [e["key"] for e in r.json()["value"]["entries"]])
    print("OK")


if __name__ == "__main__":
    main()
