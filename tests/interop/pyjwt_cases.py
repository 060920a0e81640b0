"""PyJWT (PyJWKClient via the discovery document) against watchword tokens.

Usage: python pyjwt_cases.py CASES.json   (written by run.sh)
Prints one line per case and `pyjwt: N passed, M failed`; exits 1 on any failure.
"""
import json
import os
import sys

import jwt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "snippets"))
from verify import make_verifier  # noqa: E402  (the README snippet, verbatim)

cases = json.load(open(sys.argv[1]))
passed = failed = 0


def case(name, check):
    global passed, failed
    try:
        check()
    except Exception as e:  # a failed case, whatever the reason
        failed += 1
        print(f"  FAIL pyjwt {name}: {type(e).__name__}: {e}")
    else:
        passed += 1
        print(f"  ok   pyjwt {name}")


def rejects(verify, token, error):
    try:
        verify(token)
    except error:
        return
    except Exception as e:
        raise AssertionError(f"rejected for the wrong reason, wanted {error.__name__}: {type(e).__name__}: {e}")
    raise AssertionError("accepted")


for server in cases["servers"]:
    alg = server["alg"]
    verify = make_verifier(server["issuer"], cases["audience"])

    def fresh():
        assert jwt.get_unverified_header(server["fresh"])["alg"] == alg
        claims = verify(server["fresh"])
        assert claims["sub"] == cases["user"], claims
        assert claims["roles"] == cases["roles"], claims
        assert claims["iss"] == server["issuer"], claims

    case(f"{alg} fresh token verifies", fresh)
    case(f"{alg} expired token is refused", lambda: rejects(verify, server["expired"], jwt.ExpiredSignatureError))
    case(f"{alg} flipped signature byte is refused",
         lambda: rejects(verify, server["tampered"], jwt.InvalidSignatureError))
    case(f"{alg} other audience is refused",
         lambda: rejects(make_verifier(server["issuer"], "someone-else"), server["fresh"], jwt.InvalidAudienceError))

print(f"pyjwt: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
