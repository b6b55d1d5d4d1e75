// Passkeys in a real browser: a user registers a passkey through the
// management API (PasskeyService) with Chromium's virtual authenticator,
// then signs in with it alone on the hosted login's passkey page, whose
// script (passkey.js) runs under the page's nonce CSP.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { addVirtualAuthenticator, api, cspViolations, env, launch, newPage, url } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

// registerPasskey runs a registration ceremony of the user's: the API
// begins it, the page's navigator.credentials.create answers it on the
// virtual authenticator, the API finishes it.
async function registerPasskey(page, name) {
  const begun = await api('POST', '/v1/me/passkeys/registrations', { passwordless: true }, env.userToken);
  const options = Buffer.from(begun.publicKeyCredentialCreationOptions, 'base64').toString('utf8');
  const credential = await page.evaluate(async (json) => {
    const { publicKey } = JSON.parse(json);
    const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) });
    return JSON.stringify(cred.toJSON());
  }, options);
  const finished = await api(
    'POST',
    '/v1/me/passkeys',
    { ceremonyId: begun.ceremonyId, name, publicKeyCredential: Buffer.from(credential).toString('base64') },
    env.userToken,
  );
  return finished.passkey;
}

test('a user signs in with a passkey alone', async () => {
  const page = await newPage(browser);
  const violations = cspViolations(page);
  const authenticator = await addVirtualAuthenticator(page);
  // The relying party is the instance (localhost): the page must be on
  // its origin for the ceremony.
  await page.goto(url('/ui/login/'));
  const passkey = await registerPasskey(page, 'Virtual authenticator');
  assert.ok(passkey?.id, `no passkey in the answer: ${JSON.stringify(passkey)}`);
  const held = await authenticator.credentials();
  assert.equal(held.length, 1);
  assert.ok(held[0].isResidentCredential, 'the passkey is not discoverable');
  const signed = held[0].signCount;

  const listed = await api('GET', '/v1/me/passkeys', undefined, env.userToken);
  assert.deepEqual(
    listed.passkeys.map((p) => p.id),
    [passkey.id],
  );

  await page.goto(url('/ui/login/passkey'));
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.getByRole('heading', { name: 'Signed in' }).waitFor();
  assert.match(await page.locator('main').innerText(), new RegExp(`signed in as ${env.userLoginName}\\.`, 'i'));
  assert.equal((await authenticator.credentials())[0].signCount, signed + 1, 'the authenticator signed once');
  assert.deepEqual(violations, [], 'the passkey page broke its own Content-Security-Policy');
  await authenticator.remove();
});

test('a passkey the server does not know does not sign anybody in', async () => {
  const page = await newPage(browser);
  const authenticator = await addVirtualAuthenticator(page);
  // A credential made for this site, but never registered with Castellan.
  await page.goto(url('/ui/login/'));
  await page.evaluate(async () => {
    await navigator.credentials.create({
      publicKey: {
        rp: { id: location.hostname, name: 'stranger' },
        user: { id: crypto.getRandomValues(new Uint8Array(16)), name: 'stranger', displayName: 'stranger' },
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      },
    });
  });
  assert.equal((await authenticator.credentials()).length, 1);

  await page.goto(url('/ui/login/passkey'));
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  const alert = page.locator('#passkey-status');
  await assert.doesNotReject(
    page.waitForFunction(() => document.getElementById('passkey-status')?.textContent.trim() !== ''),
  );
  assert.match(await alert.innerText(), /could not be used/);
  assert.equal(await page.getByRole('heading', { name: 'Signed in' }).count(), 0);
  await authenticator.remove();
});
