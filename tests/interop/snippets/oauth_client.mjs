import * as client from 'openid-client'; // npm install openid-client

// Discovery finds the token endpoint; `insecure` allows plain http (local tests only).
const discover = (issuer, clientId, auth, insecure) =>
  client.discovery(new URL(issuer), clientId, undefined, auth, {
    execute: insecure ? [client.allowInsecureRequests] : [],
  });

// A service account's token: the client credentials grant, the secret over HTTP Basic.
export async function serviceToken(issuer, clientId, clientSecret, { scope, insecure = false } = {}) {
  const config = await discover(issuer, clientId, client.ClientSecretBasic(clientSecret), insecure);
  return client.clientCredentialsGrant(config, scope ? { scope } : {});
}

// A person's token: the password grant, from a public client (no client secret).
export async function userToken(issuer, username, password, { scope, insecure = false } = {}) {
  const config = await discover(issuer, 'my-app', client.None(), insecure);
  return client.genericGrantRequest(config, 'password', { username, password, ...(scope ? { scope } : {}) });
}
