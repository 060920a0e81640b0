"""Small HTTP and token helpers for run.sh (standard library only, so no curl is needed).

  tools.py port                      a free TCP port on 127.0.0.1
  tools.py wait URL PID SECONDS      until URL answers 200 (fails early if PID died)
  tools.py login BASE USER PASSWORD  prints the token from POST /login
  tools.py served BASE FILE          GET /openapi.yaml is FILE byte for byte, as application/yaml
  tools.py cases OUT USER ROLES AUD  reads `alg issuer fresh expired` lines on stdin, writes cases JSON
  tools.py oauth OUT AUD USER PASSWORD ROLES SERVICE SECRET
                                     reads `profile issuer` lines on stdin, writes the OAuth cases JSON
"""
import json
import os
import socket
import sys
import time
import urllib.request


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def wait(url, pid, seconds):
    deadline = time.time() + float(seconds)
    while time.time() < deadline:
        try:
            os.kill(int(pid), 0)
        except OSError:
            sys.exit(f"process {pid} exited before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} did not answer 200 within {seconds} s")


def login(base, user, password):
    req = urllib.request.Request(f"{base}/login", method="POST", headers={"User-Name": user, "Password": password})
    with urllib.request.urlopen(req, timeout=10) as res:
        print(json.load(res)["token"])


def served(base, path):
    with urllib.request.urlopen(f"{base}/openapi.yaml", timeout=10) as res:
        body, ctype = res.read(), res.headers.get("Content-Type", "")
    want = open(path, "rb").read()
    if body != want:
        sys.exit(f"GET /openapi.yaml ({len(body)} bytes) is not {path} ({len(want)} bytes)")
    if ctype.split(";")[0].strip() != "application/yaml":
        sys.exit(f"GET /openapi.yaml has Content-Type {ctype!r}, not application/yaml")


def tamper(token):
    """Flip one character in the middle of the signature: every bit of it is significant
    (the last base64url character may carry unused low bits)."""
    head, claims, sig = token.split(".")
    i = len(sig) // 2
    flipped = "A" if sig[i] != "A" else "B"
    return f"{head}.{claims}.{sig[:i]}{flipped}{sig[i + 1:]}"


def cases(out, user, roles, audience):
    servers = []
    for line in sys.stdin:
        if line.strip():
            alg, issuer, fresh, expired = line.split()
            servers.append({"alg": alg, "issuer": issuer, "fresh": fresh, "expired": expired,
                            "tampered": tamper(fresh)})
    with open(out, "w") as f:
        json.dump({"user": user, "roles": roles.split(","), "audience": audience, "servers": servers}, f, indent=1)


def oauth(out, audience, user, password, roles, service, secret):
    servers = []
    for line in sys.stdin:
        if line.strip():
            profile, issuer = line.split()
            # token.client_id's default: the client_id claim of people's RFC 9068 tokens.
            servers.append({"profile": profile, "issuer": issuer, "client_id": "watchword"})
    with open(out, "w") as f:
        json.dump({"audience": audience, "servers": servers,
                   "user": {"name": user, "password": password, "roles": roles.split(","),
                            "scope": "read_docs write_docs"},
                   "service": {"id": service, "secret": secret, "scope": "read_docs"}}, f, indent=1)


if __name__ == "__main__":
    commands = {"port": port, "wait": wait, "login": login, "served": served, "cases": cases, "oauth": oauth}
    commands[sys.argv[1]](*sys.argv[2:])
