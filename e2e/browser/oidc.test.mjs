// OpenID Connect through the hosted login, with panva's certified
// openid-client (on oauth4webapi) as the relying party: a small web
// application on 127.0.0.1 that Chromium visits. It runs the authorization
// code flow with PKCE, verifies the ID token, reads userinfo, rotates the
// refresh token, and signs out through the end-session endpoint.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as oidc from 'openid-client';
import { api, cspViolations, env, launch, newPage } from './lib.mjs';

let browser;
let rp;
before(async () => {
  browser = await launch();
  rp = await startRelyingParty();
});
after(async () => {
  await browser?.close();
  rp?.server.close();
});

// startRelyingParty registers a confidential web application and serves
// it: /login starts an authorization, /callback finishes it and shows what
// it got, /logout signs out, /signed-out is where the logout returns.
async function startRelyingParty() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  const me = await api('GET', '/v1/me');
  const { project } = await api('POST', '/v1/projects', { organizationId: me.user.organizationId, name: `rp-${Date.now()}` });
  const { application, clientSecret } = await api('POST', `/v1/projects/${project.id}/applications`, {
    name: 'openid-client',
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [`${base}/callback`],
    postLogoutRedirectUris: [`${base}/signed-out`],
  });
  // http on localhost: the test's server has no TLS.
  const config = await oidc.discovery(new URL(env.baseURL), application.clientId, clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });

  const pending = new Map();
  const state = { results: [] };
  server.on('request', async (req, res) => {
    const u = new URL(req.url, base);
    try {
      if (u.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const s = oidc.randomState();
        const nonce = oidc.randomNonce();
        pending.set(s, { verifier, nonce });
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/callback`, scope: 'openid profile email offline_access', state: s, nonce,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        });
        res.writeHead(302, { Location: to.href }).end();
        return;
      }
      if (u.pathname === '/callback') {
        const p = pending.get(u.searchParams.get('state'));
        const tokens = await oidc.authorizationCodeGrant(config, u, {
          pkceCodeVerifier: p.verifier, expectedState: u.searchParams.get('state'), expectedNonce: p.nonce,
        });
        const claims = tokens.claims();
        const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
        const result = {
          sub: claims.sub, amr: claims.amr, preferred_username: claims.preferred_username, userinfoEmail: userinfo.email,
          refreshed: refreshed.refresh_token !== tokens.refresh_token && refreshed.claims()?.sub === claims.sub,
        };
        state.results.push({ ...result, idToken: tokens.id_token, refreshToken: refreshed.refresh_token });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(result));
        return;
      }
      if (u.pathname === '/logout') {
        const last = state.results.at(-1);
        const to = oidc.buildEndSessionUrl(config, {
          id_token_hint: last.idToken, post_logout_redirect_uri: `${base}/signed-out`, state: 'bye',
        });
        res.writeHead(302, { Location: to.href }).end();
        return;
      }
      if (u.pathname === '/signed-out') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`signed out, state ${u.searchParams.get('state')}`);
        return;
      }
      res.writeHead(404).end();
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`relying party: ${err.stack}`);
    }
  });
  return { server, base, config, state };
}

test('openid-client signs a user in through the hosted login, refreshes, and signs out', async () => {
  const page = await newPage(browser);
  const violations = cspViolations(page);
  await page.goto(`${rp.base}/login`);
  await page.getByLabel('Login name').fill(env.userLoginName);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Password', { exact: true }).fill(env.userPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();

  // The login sends the browser back to the application, which redeems
  // the code with openid-client.
  await page.waitForURL(`${rp.base}/callback**`);
  const result = JSON.parse(await page.locator('body').innerText());
  assert.equal(result.preferred_username, env.userLoginName);
  assert.deepEqual(result.amr, ['pwd']);
  assert.ok(result.userinfoEmail, 'userinfo gave no email');
  assert.equal(result.refreshed, true, 'the refresh token was not rotated');

  // A second authorization in the same browser needs no sign-in.
  await page.goto(`${rp.base}/login`);
  await page.waitForURL(`${rp.base}/callback**`);
  assert.equal(JSON.parse(await page.locator('body').innerText()).sub, result.sub);

  // The end-session endpoint signs the browser out and returns.
  await page.goto(`${rp.base}/logout`);
  await page.waitForURL(`${rp.base}/signed-out**`);
  assert.equal(await page.locator('body').innerText(), 'signed out, state bye');
  await assert.rejects(oidc.refreshTokenGrant(rp.config, rp.state.results.at(-1).refreshToken), (err) => err.error === 'invalid_grant');

  // Signed out: the next authorization asks for a login name.
  await page.goto(`${rp.base}/login`);
  await page.getByLabel('Login name').waitFor();
  assert.deepEqual(violations, []);
});
