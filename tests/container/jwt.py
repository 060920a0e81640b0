"""EdDSA JWT checks for tests/container/run.sh, from outside the image: Python's standard
library for the JSON and base64 parts, the host's openssl for the Ed25519 signature. None of
watchword's own code is involved, so a token that passes here verifies for any JOSE library.

    python3 jwt.py token LOGIN_BODY_FILE            the token of a 200 login answer
    python3 jwt.py kid TOKEN                        the kid of its header
    python3 jwt.py thumbprint PUBLIC_PEM            RFC 7638 kid of an Ed25519 public key
    python3 jwt.py jwks-pem JWKS_FILE KID OUT_PEM   the JWKS key with that kid, as a PEM
    python3 jwt.py verify TOKEN PUBLIC_PEM [SUB]    signature, alg, exp/nbf/iat, sub; prints the claims
"""

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# SubjectPublicKeyInfo of an Ed25519 key: this fixed prefix, then the 32 raw bytes (RFC 8410).
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def die(message):
    print(f"jwt.py: {message}", file=sys.stderr)
    sys.exit(1)


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token):
    pieces = token.split(".")
    if len(pieces) != 3:
        die(f"not a compact JWS: {len(pieces)} parts")
    header = json.loads(b64url_decode(pieces[0]))
    claims = json.loads(b64url_decode(pieces[1]))
    return pieces, header, claims


def raw_public_key(pem_path):
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", pem_path, "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout
    if len(der) != 44 or not der.startswith(ED25519_SPKI_PREFIX):
        die(f"{pem_path} is not an Ed25519 public key")
    return der[len(ED25519_SPKI_PREFIX):]


def thumbprint(raw):
    # RFC 7638: the required members in lexicographic order, no whitespace, SHA-256.
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)},
                           separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    command, args = argv[1], argv[2:]
    if command == "token":
        body = json.loads(Path(args[0]).read_text())
        if body.get("status") != "ok" or body.get("token_type") != "Bearer" or "token" not in body:
            die(f"not a successful login answer: {body}")
        print(body["token"])
    elif command == "kid":
        print(parts(args[0])[1].get("kid", ""))
    elif command == "thumbprint":
        print(thumbprint(raw_public_key(args[0])))
    elif command == "jwks-pem":
        jwks = json.loads(Path(args[0]).read_text())
        keys = [k for k in jwks.get("keys", []) if k.get("kid") == args[1]]
        if len(keys) != 1:
            die(f"the JWKS has {len(keys)} keys with kid {args[1]}: {jwks}")
        key = keys[0]
        if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            die(f"not an Ed25519 JWK: {key}")
        raw = b64url_decode(key["x"])
        if thumbprint(raw) != args[1]:
            die(f"kid {args[1]} is not the RFC 7638 thumbprint of its key")
        der = ED25519_SPKI_PREFIX + raw
        pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"
        Path(args[2]).write_text(pem)
    elif command == "verify":
        token, pem = args[0], args[1]
        pieces, header, claims = parts(token)
        if header.get("alg") != "EdDSA":
            die(f"alg is {header.get('alg')!r}, not EdDSA")
        with tempfile.TemporaryDirectory() as tmp:
            signed, signature = Path(tmp, "signed"), Path(tmp, "signature")
            signed.write_bytes(f"{pieces[0]}.{pieces[1]}".encode())
            signature.write_bytes(b64url_decode(pieces[2]))
            check = subprocess.run(
                ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                 "-in", str(signed), "-sigfile", str(signature)],
                capture_output=True, text=True,
            )
            if check.returncode != 0:
                die(f"bad signature: {check.stdout.strip()} {check.stderr.strip()}")
        now = time.time()
        if not now < claims.get("exp", 0):
            die(f"expired or no exp: {claims}")
        if claims.get("nbf", 0) > now + 30 or claims.get("iat", 0) > now + 30:
            die(f"not yet valid: {claims}")
        if len(args) > 2 and claims.get("sub") != args[2]:
            die(f"sub is {claims.get('sub')!r}, not {args[2]!r}")
        print(json.dumps(claims, sort_keys=True))
    else:
        die(f"unknown command {command}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
