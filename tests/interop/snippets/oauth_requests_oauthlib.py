from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient
from requests_oauthlib import OAuth2Session  # pip install requests-oauthlib


def service_token(token_url: str, client_id: str, client_secret: str, scope: list[str] | None = None) -> dict:
    """A service account's token: the client credentials grant, the secret over HTTP Basic."""
    session = OAuth2Session(client=BackendApplicationClient(client_id=client_id), scope=scope)
    return session.fetch_token(token_url, client_id=client_id, client_secret=client_secret, scope=scope)


def user_token(token_url: str, username: str, password: str, scope: list[str] | None = None) -> dict:
    """A person's token: the password grant, from a public client (no client secret)."""
    session = OAuth2Session(client=LegacyApplicationClient(client_id="my-app"), scope=scope)
    return session.fetch_token(token_url, username=username, password=password, scope=scope)
