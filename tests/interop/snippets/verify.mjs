import { createRemoteJWKSet, jwtVerify } from 'jose'; // npm install jose

// Check watchword tokens with the keys the issuer publishes, found through discovery.
export async function makeVerifier(issuer, audience) {
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri)); // refetches on an unknown kid
  const algorithms = discovery.id_token_signing_alg_values_supported;
  return async (token) => {
    const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms, requiredClaims: ['sub'] });
    return payload;
  };
}
