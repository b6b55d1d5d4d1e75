// The hosted login's pages of the provider, in a real browser with their
// accessibility checked: the consent of a third-party application, and
// the device flow's user-code and confirmation pages.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { api, assertAccessible, launch, newAccessibilityPage, url } from './lib.mjs';

let browser;
// A user of its own: the other tests give the shared user a passkey,
// which then asks for a second factor after the password.
const user = { loginName: `pages-${Date.now()}`, password: `Pages-${randomBytes(9).toString('base64url')}-1` };
before(async () => {
  browser = await launch();
  const me = await api('GET', '/v1/me');
  await api('POST', '/v1/users', {
    organizationId: me.user.organizationId, type: 'human', loginName: user.loginName, email: `${user.loginName}@example.com`, emailVerified: true,
    password: user.password, traits: { profile: { given_name: 'Page', family_name: 'Tester' } },
  });
});
after(async () => {
  await browser?.close();
});

async function signIn(page) {
  await page.getByLabel('Login name').fill(user.loginName);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function newApplication(spec) {
  const me = await api('GET', '/v1/me');
  const { project } = await api('POST', '/v1/projects', { organizationId: me.user.organizationId, name: `pages-${Date.now()}-${Math.random()}` });
  return api('POST', `/v1/projects/${project.id}/applications`, spec);
}

test('a third-party application asks for consent, accessibly', async () => {
  const redirect = 'http://127.0.0.1:9/callback';
  const { application } = await newApplication({
    name: 'Partner Portal', thirdParty: true, public: true, grantTypes: ['authorization_code'], redirectUris: [redirect],
  });
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = url('/oauth/v2/authorize?' + new URLSearchParams({
    client_id: application.clientId, redirect_uri: redirect, response_type: 'code', scope: 'openid email', state: 's1',
    code_challenge: challenge, code_challenge_method: 'S256',
  }));
  const page = await newAccessibilityPage(browser);
  await page.goto(authorize);
  await signIn(page);
  await page.getByRole('heading', { name: 'Allow access' }).waitFor();
  assert.match(await page.locator('main').innerText(), /Partner Portal asks to access your account/);
  assert.match(await page.locator('main').innerText(), /Your email address/);
  await assertAccessible(page);
  // Allowing leads back to the application (nothing listens there: the
  // browser's last request names the code).
  const back = page.waitForRequest((r) => r.url().startsWith(redirect));
  await page.getByRole('button', { name: 'Allow' }).click();
  const request = await back;
  const params = new URL(request.url()).searchParams;
  assert.equal(params.get('state'), 's1');
  assert.ok(params.get('code')?.startsWith('cac_'));
});

test('a device is connected through the user-code page, accessibly', async () => {
  const { application } = await newApplication({
    name: 'Terminal', public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'],
  });
  const resp = await fetch(url('/oauth/v2/device_authorization'), {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: application.clientId, scope: 'openid' }),
  });
  assert.equal(resp.status, 200);
  const device = await resp.json();
  const page = await newAccessibilityPage(browser);
  await page.goto(device.verification_uri_complete);
  await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
  assert.equal(await page.getByLabel('Code').inputValue(), device.user_code);
  await assertAccessible(page);
  await page.getByRole('button', { name: 'Next' }).click();
  await signIn(page);
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  assert.match(await page.locator('main').innerText(), new RegExp(`Terminal asks to sign in as ${user.loginName}`));
  await assertAccessible(page);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByText('The device is connected').waitFor();
  const token = await fetch(url('/oauth/v2/token'), {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: application.clientId }),
  });
  assert.equal(token.status, 200, await token.clone().text());
  assert.ok((await token.json()).access_token);
});
