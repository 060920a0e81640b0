import json
import urllib.request

import jwt  # pip install 'pyjwt[crypto]'


def make_verifier(issuer: str, audience: str):
    """Check watchword tokens with the keys the issuer publishes, found through discovery."""
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as res:
        discovery = json.load(res)
    jwks = jwt.PyJWKClient(discovery["jwks_uri"])  # caches keys, refetches on an unknown kid
    algorithms = discovery["id_token_signing_alg_values_supported"]

    def verify(token: str) -> dict:
        key = jwks.get_signing_key_from_jwt(token)
        return jwt.decode(token, key.key, algorithms=algorithms, issuer=issuer, audience=audience,
                          options={"require": ["exp", "iss", "sub"]})

    return verify
