// openid-client (on oauth4webapi), an OAuth 2.0 client nobody here wrote, against /token.
//
// Usage: node oauth_cases.mjs OAUTH.json   (run by run.sh from an npm prefix holding
// openid-client and jose). Both grants from a server of each token profile; tokens checked
// with jose through the README's verifier; a wrong secret and a wrong password must fail with
// openid-client's own errors. Prints one line per case and `oauth-node: N passed, M failed`.
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader } from 'jose';
import { serviceToken, userToken } from './oauth_client.mjs'; // the README snippet, verbatim
import { makeVerifier } from './verify.mjs'; // the README snippet, verbatim

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`  ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`  FAIL ${name}: ${e && e.code ? e.code + ': ' : ''}${e && e.message}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function checkToken(server, answer, sub, scope, clientId) {
  assert(answer.token_type === 'bearer', `token_type ${answer.token_type}`);
  assert(answer.expires_in > 0, `expires_in ${answer.expires_in}`);
  assert(answer.refresh_token === undefined, 'a refresh token');
  const token = answer.access_token;
  const claims = await (await makeVerifier(server.issuer, cases.audience))(token);
  assert(claims.sub === sub, `sub ${claims.sub}`);
  assert(claims.scope === scope, `scope ${claims.scope}`);
  const header = decodeProtectedHeader(token);
  if (server.profile === 'rfc9068') {
    assert(header.typ === 'at+jwt', `typ ${header.typ}`);
    assert(claims.client_id === clientId, `client_id ${claims.client_id}`);
  } else {
    assert(header.typ === 'JWT', `typ ${header.typ}`);
    assert(claims.client_id === undefined, `client_id ${claims.client_id}`);
  }
  return claims;
}

// A wrong secret: 401 with a Basic challenge and invalid_client in the body.
async function failsWithInvalidClient(fetch) {
  try {
    await fetch();
  } catch (e) {
    assert(e.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', `code ${e.code}`);
    assert(e.status === 401, `status ${e.status}`);
    assert(e.cause[0].scheme === 'basic', `challenge ${JSON.stringify(e.cause)}`);
    const body = await e.response.json();
    assert(body.error === 'invalid_client', `error ${body.error}`);
    return;
  }
  throw new Error('a token was issued');
}

async function failsWith(fetch, error) {
  try {
    await fetch();
  } catch (e) {
    assert(e.code === 'OAUTH_RESPONSE_BODY_ERROR', `code ${e.code}: ${e.message}`);
    assert(e.error === error, `error ${e.error}`);
    assert(e.status === 400, `status ${e.status}`);
    return;
  }
  throw new Error('a token was issued');
}

const { user, service } = cases;
const insecure = true; // plain http on loopback
for (const server of cases.servers) {
  const { issuer, profile } = server;
  await check(`openid-client ${profile} password grant, verified by jose`, async () => {
    const answer = await userToken(issuer, user.name, user.password, { scope: user.scope, insecure });
    const claims = await checkToken(server, answer, user.name, user.scope, server.client_id);
    assert(JSON.stringify(claims.roles) === JSON.stringify(user.roles), `roles ${claims.roles}`);
  });
  await check(`openid-client ${profile} client credentials (form-urlencoded Basic), verified by jose`, async () => {
    const answer = await serviceToken(issuer, service.id, service.secret, { scope: service.scope, insecure });
    const claims = await checkToken(server, answer, service.id, service.scope, service.id);
    assert(claims.kind === 'service', `kind ${claims.kind}`);
  });
  await check(`openid-client ${profile} wrong client secret fails with 401 invalid_client`, () =>
    failsWithInvalidClient(() => serviceToken(issuer, service.id, 'wrong', { insecure })));
  await check(`openid-client ${profile} wrong password fails with invalid_grant`, () =>
    failsWith(() => userToken(issuer, user.name, 'wrong', { insecure }), 'invalid_grant'));
}

console.log(`oauth-node: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
