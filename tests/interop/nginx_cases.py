"""nginx auth_request in front of a static upstream, with watchword's /verify as the check.

Usage: python nginx_cases.py CASES.json NGINX_BASE_URL
Prints one line per case and `nginx: N passed, M failed`; exits 1 on any failure.
"""
import json
import sys
import urllib.error
import urllib.request

cases = json.load(open(sys.argv[1]))
base = sys.argv[2].rstrip("/")
server = cases["servers"][0]  # the nginx test runs against the first (EdDSA) server
passed = failed = 0


def get(path, headers=None):
    req = urllib.request.Request(base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, dict(res.headers), res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def case(name, check):
    global passed, failed
    try:
        check()
    except Exception as e:
        failed += 1
        print(f"  FAIL nginx {name}: {type(e).__name__}: {e}")
    else:
        passed += 1
        print(f"  ok   nginx {name}")


def expect(status, path, headers=None, body_has=(), www_auth=None):
    got, hdrs, body = get(path, headers)
    assert got == status, f"HTTP {got}, wanted {status}: {body[:200]!r}"
    for text in body_has:
        assert text in body, f"{text!r} not in {body!r}"
    if www_auth is not None:
        value = {k.lower(): v for k, v in hdrs.items()}.get("www-authenticate", "")
        assert www_auth in value, f"WWW-Authenticate {value!r} lacks {www_auth!r}"


user, roles = cases["user"], ",".join(cases["roles"])
bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
case("no token: 401", lambda: expect(401, "/private/page"))
case("fresh token: 200, user and roles reach the upstream",
     lambda: expect(200, "/private/page", bearer(server["fresh"]), [f"user={user}\n", f"roles={roles}\n"]))
case("`Token` scheme: 200",
     lambda: expect(200, "/private/page", {"Authorization": f"Token {server['fresh']}"}, [f"user={user}\n"]))
case("flipped signature byte: 401 with the reason",
     lambda: expect(401, "/private/page", bearer(server["tampered"]), www_auth='error_description="bad_signature"'))
case("expired token: 401 with the reason",
     lambda: expect(401, "/private/page", bearer(server["expired"]), www_auth='error_description="expired"'))
case("a client's own X-User is replaced",
     lambda: expect(200, "/private/page", {**bearer(server["fresh"]), "X-User": "mallory"}, [f"user={user}\n"]))
case("a client's X-User without a token: 401",
     lambda: expect(401, "/private/page", {"X-User": user}))

print(f"nginx: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
