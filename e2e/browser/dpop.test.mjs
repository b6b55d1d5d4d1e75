// DPoP (RFC 9449) with an independent client: panva's oauth4webapi makes
// the proofs (WebCrypto keys), reads the DPoP-Nonce flow and checks the
// responses, so that Castellan's wire format is checked against another
// implementation and not only against its own tests. It obtains a
// DPoP-bound token with client_credentials (nonce required: the first
// request gets use_dpop_nonce, the retry carries the nonce), then, through
// the hosted login in Chromium, a DPoP-bound user token by the
// authorization code flow (with dpop_jkt), calls userinfo with it (nonce
// flow at a resource: 401 use_dpop_nonce, then the retry) and refreshes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as oauth from 'oauth4webapi';
import { api, env, launch, newPage } from './lib.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };

let browser;
let as;
let project;
before(async () => {
  browser = await launch();
  const issuer = new URL(env.baseURL);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  const me = await api('GET', '/v1/me');
  ({ project } = await api('POST', '/v1/projects', { organizationId: me.user.organizationId, name: `dpop-${Date.now()}` }));
});
after(async () => {
  await browser?.close();
});

// withNonceRetry runs a request once more when the server asks for a DPoP
// nonce: the DPoP handle has kept the nonce of the refusal.
async function withNonceRetry(fn) {
  try {
    return { result: await fn(), retried: false };
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) {
      throw err;
    }
    return { result: await fn(), retried: true };
  }
}

test('discovery lists the DPoP algorithms', () => {
  for (const alg of ['ES256', 'PS256', 'EdDSA', 'RS256']) {
    assert.ok(as.dpop_signing_alg_values_supported.includes(alg), `${alg} missing: ${as.dpop_signing_alg_values_supported}`);
  }
});

test('oauth4webapi gets a DPoP-bound token with client_credentials, through the nonce flow', async () => {
  const { application, clientSecret } = await api('POST', `/v1/projects/${project.id}/applications`, {
    name: 'dpop-machine', grantTypes: ['client_credentials'],
  });
  await api('PUT', `/v1/applications/${application.id}/dpop`, { required: true, nonceRequired: true });
  const client = { client_id: application.clientId };
  const auth = oauth.ClientSecretBasic(clientSecret);
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));

  // Without a proof, a client that must use DPoP gets nothing.
  const bare = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), insecure);
  await assert.rejects(oauth.processClientCredentialsResponse(as, client, bare), (err) => err.error === 'invalid_dpop_proof');

  const { result, retried } = await withNonceRetry(async () => oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), { ...insecure, DPoP })));
  assert.equal(retried, true, 'the first request was not answered use_dpop_nonce');
  assert.equal(result.token_type, 'dpop');
  const claims = JSON.parse(Buffer.from(result.access_token.split('.')[1], 'base64url'));
  assert.equal(claims.cnf.jkt, await DPoP.calculateThumbprint());
});

test('oauth4webapi signs a user in with a DPoP-bound code, calls userinfo with the nonce flow, and refreshes', async () => {
  const callback = createServer();
  await new Promise((resolve) => callback.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${callback.address().port}/cb`;
  const arrived = new Promise((resolve) => callback.on('request', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    resolve(new URL(req.url, redirectUri));
  }));
  try {
    const { application } = await api('POST', `/v1/projects/${project.id}/applications`, {
      name: 'dpop-spa', public: true, grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [redirectUri],
    });
    await api('PUT', `/v1/applications/${application.id}/dpop`, { required: true, nonceRequired: true });
    const client = { client_id: application.clientId, token_endpoint_auth_method: 'none' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const authURL = new URL(as.authorization_endpoint);
    for (const [k, v] of Object.entries({
      client_id: client.client_id, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile offline_access', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', dpop_jkt: await DPoP.calculateThumbprint(),
    })) {
      authURL.searchParams.set(k, v);
    }

    const page = await newPage(browser);
    await page.goto(authURL.href);
    await page.getByLabel('Login name').fill(env.userLoginName);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Password', { exact: true }).fill(env.userPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const back = await arrived;

    const params = oauth.validateAuthResponse(as, client, back, state);
    const { result: tokens } = await withNonceRetry(async () => oauth.processAuthorizationCodeResponse(as, client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, { ...insecure, DPoP })));
    assert.equal(tokens.token_type, 'dpop');
    const sub = oauth.getValidatedIdTokenClaims(tokens).sub;

    // userinfo: the nonce of the token endpoint is not the resource's
    // concern in oauth4webapi, which keeps nonces per origin; the
    // server's 401 use_dpop_nonce (or the nonce it already holds) leads
    // to a request with a nonce either way.
    const { result: info } = await withNonceRetry(async () => oauth.processUserInfoResponse(as, client, sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP })));
    assert.equal(info.sub, sub);
    assert.equal(info.preferred_username, env.userLoginName);

    // The bound token as a bearer token is refused.
    const asBearer = await oauth.userInfoRequest(as, client, tokens.access_token, insecure);
    await assert.rejects(oauth.processUserInfoResponse(as, client, sub, asBearer), (err) => err.status === 401);

    // The refresh token is bound to the key: refreshing with another key
    // fails, with the key it works.
    const stranger = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await assert.rejects(withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, { ...insecure, DPoP: stranger }))),
    (err) => err.error === 'invalid_grant');
    const { result: refreshed } = await withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, { ...insecure, DPoP })));
    assert.equal(refreshed.token_type, 'dpop');
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  } finally {
    callback.close();
  }
});
