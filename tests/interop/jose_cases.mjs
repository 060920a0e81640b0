// node jose (createRemoteJWKSet + jwtVerify) against watchword tokens.
//
// Usage: node jose_cases.mjs CASES.json   (run by run.sh from an npm prefix holding jose)
// Prints one line per case and `jose: N passed, M failed`; exits 1 on any failure.
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader } from 'jose';
import { makeVerifier } from './verify.mjs'; // the README snippet, verbatim

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`  ok   jose ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`  FAIL jose ${name}: ${e && e.code ? e.code + ': ' : ''}${e && e.message}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function rejects(verify, token, code) {
  try {
    await verify(token);
  } catch (e) {
    if (e.code === code) return;
    throw new Error(`rejected for the wrong reason, wanted ${code}: ${e.code}: ${e.message}`);
  }
  throw new Error('accepted');
}

for (const server of cases.servers) {
  const { alg } = server;
  const verify = await makeVerifier(server.issuer, cases.audience);
  await check(`${alg} fresh token verifies`, async () => {
    assert(decodeProtectedHeader(server.fresh).alg === alg, 'header alg');
    const claims = await verify(server.fresh);
    assert(claims.sub === cases.user, `sub ${claims.sub}`);
    assert(JSON.stringify(claims.roles) === JSON.stringify(cases.roles), `roles ${claims.roles}`);
    assert(claims.iss === server.issuer, `iss ${claims.iss}`);
  });
  await check(`${alg} expired token is refused`, () => rejects(verify, server.expired, 'ERR_JWT_EXPIRED'));
  await check(`${alg} flipped signature byte is refused`, () =>
    rejects(verify, server.tampered, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'));
  await check(`${alg} other audience is refused`, async () =>
    rejects(await makeVerifier(server.issuer, 'someone-else'), server.fresh, 'ERR_JWT_CLAIM_VALIDATION_FAILED'));
}

console.log(`jose: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
