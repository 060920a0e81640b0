import json
import urllib.request

from authlib.integrations.requests_client import OAuth2Session  # pip install authlib requests


def token_endpoint(issuer: str) -> str:
    """The token endpoint, from the issuer's discovery document."""
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as res:
        return json.load(res)["token_endpoint"]


def service_token(issuer: str, client_id: str, client_secret: str, scope: str | None = None) -> dict:
    """A service account's token: the client credentials grant, the secret over HTTP Basic."""
    with OAuth2Session(client_id, client_secret, scope=scope) as session:
        return session.fetch_token(token_endpoint(issuer), grant_type="client_credentials")


def user_token(issuer: str, username: str, password: str, scope: str | None = None) -> dict:
    """A person's token: the password grant, from a public client (no client secret)."""
    with OAuth2Session("my-app", token_endpoint_auth_method="none", scope=scope) as session:
        return session.fetch_token(token_endpoint(issuer), username=username, password=password)
