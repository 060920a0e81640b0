"""OAuth 2.0 client libraries nobody here wrote (Authlib, requests-oauthlib) against /token.

Usage: python oauth_cases.py OAUTH.json   (written by run.sh)
Each library fetches tokens with both grants from a server of each token profile (jwt,
rfc9068), the tokens are checked with PyJWT through the README's verifier, and a wrong secret
and a wrong password must fail with the library's own error for invalid_client and
invalid_grant. Prints one line per case and `oauth-python: N passed, M failed`.
"""
import json
import os
import sys

import jwt

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "snippets"))
# oauthlib refuses plain http unless told; the servers here listen on loopback only.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

import oauth_authlib  # noqa: E402  (README snippets, verbatim)
import oauth_requests_oauthlib  # noqa: E402
from authlib.integrations.base_client.errors import OAuthError  # noqa: E402
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError  # noqa: E402
from verify import make_verifier  # noqa: E402

cases = json.load(open(sys.argv[1]))
passed = failed = 0


def case(name, check):
    global passed, failed
    try:
        check()
    except Exception as e:  # a failed case, whatever the reason
        failed += 1
        print(f"  FAIL {name}: {type(e).__name__}: {e}")
    else:
        passed += 1
        print(f"  ok   {name}")


def fails_with(fetch, error_class, code):
    try:
        fetch()
    except error_class as e:
        if getattr(e, "error", None) != code:
            raise AssertionError(f"failed with {e.error!r}, wanted {code!r}")
        return
    raise AssertionError("a token was issued")


def check_token(server, answer, sub, scope, client_id):
    assert answer["token_type"].lower() == "bearer", answer
    assert answer["expires_in"] > 0, answer
    assert "refresh_token" not in answer, answer
    token = answer["access_token"]
    claims = make_verifier(server["issuer"], cases["audience"])(token)
    assert claims["sub"] == sub, claims
    assert claims["scope"] == scope, claims
    header = jwt.get_unverified_header(token)
    if server["profile"] == "rfc9068":
        assert header["typ"] == "at+jwt", header
        assert claims["client_id"] == client_id, claims
        assert claims["jti"] and claims["iat"], claims
    else:
        assert header["typ"] == "JWT", header
        assert "client_id" not in claims, claims
    return claims


user, service = cases["user"], cases["service"]
for server in cases["servers"]:
    issuer, profile = server["issuer"], server["profile"]
    endpoint = oauth_authlib.token_endpoint(issuer)

    # Authlib: raw credentials over Basic (no form-urlencoding), OAuthError on failure.
    def authlib_user():
        answer = oauth_authlib.user_token(issuer, user["name"], user["password"], user["scope"])
        claims = check_token(server, answer, user["name"], user["scope"], server["client_id"])
        assert claims["roles"] == user["roles"], claims

    def authlib_service():
        answer = oauth_authlib.service_token(issuer, service["id"], service["secret"], service["scope"])
        claims = check_token(server, answer, service["id"], service["scope"], service["id"])
        assert claims["kind"] == "service", claims

    case(f"authlib {profile} password grant, verified by PyJWT", authlib_user)
    case(f"authlib {profile} client credentials (secret with % + : and space), verified by PyJWT",
         authlib_service)
    case(f"authlib {profile} wrong client secret fails with invalid_client",
         lambda: fails_with(lambda: oauth_authlib.service_token(issuer, service["id"], "wrong"),
                            OAuthError, "invalid_client"))
    case(f"authlib {profile} wrong password fails with invalid_grant",
         lambda: fails_with(lambda: oauth_authlib.user_token(issuer, user["name"], "wrong"),
                            OAuthError, "invalid_grant"))

    # requests-oauthlib: Basic through requests' HTTPBasicAuth, oauthlib's typed errors.
    def rol_user():
        answer = oauth_requests_oauthlib.user_token(endpoint, user["name"], user["password"],
                                                    user["scope"].split())
        check_token(server, answer, user["name"], user["scope"], server["client_id"])

    def rol_service():
        answer = oauth_requests_oauthlib.service_token(endpoint, service["id"], service["secret"],
                                                       service["scope"].split())
        check_token(server, answer, service["id"], service["scope"], service["id"])

    case(f"requests-oauthlib {profile} password grant, verified by PyJWT", rol_user)
    case(f"requests-oauthlib {profile} client credentials, verified by PyJWT", rol_service)
    case(f"requests-oauthlib {profile} wrong client secret fails with InvalidClientError",
         lambda: fails_with(lambda: oauth_requests_oauthlib.service_token(endpoint, service["id"], "wrong"),
                            InvalidClientError, "invalid_client"))
    case(f"requests-oauthlib {profile} wrong password fails with InvalidGrantError",
         lambda: fails_with(lambda: oauth_requests_oauthlib.user_token(endpoint, user["name"], "wrong"),
                            InvalidGrantError, "invalid_grant"))

print(f"oauth-python: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
