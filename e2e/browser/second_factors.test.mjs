// Second factors in a real browser, added on the account pages and used
// at sign-in as a user would: an authenticator app (its codes computed
// here, RFC 6238), recovery codes, sign-in codes by email (read from the
// SMTP server the test runs), and a passkey added and removed; the pages
// in German and without serious accessibility violations.
//
// The tests run in order and share one user, made here.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  addVirtualAuthenticator,
  assertAccessible,
  authenticatorApp,
  codeIn,
  createUser,
  cspViolations,
  launch,
  mails,
  newAccessibilityPage,
  newPage,
  signIn,
  url,
  waitForMail,
} from './lib.mjs';

const stamp = Date.now().toString(36);
const loginName = `alan-${stamp}`;
const email = `alan-${stamp}@example.com`;
const password = `Alan-${stamp}-password`;
// app is the user's authenticator app once it has one (its codes are
// spent sparingly: each must come from a later time step); recovery the
// codes the user was shown last.
let app;
let recovery = [];

let browser;
before(async () => {
  browser = await launch();
  await createUser(loginName, password, { email, emailVerified: true });
});
after(async () => {
  await browser?.close();
});

const heading = (page, name) => page.getByRole('heading', { level: 1, name }).waitFor();

// signedIn opens a fresh page with the user signed in (password only).
async function signedIn(options) {
  const page = await newPage(browser, options);
  await signIn(page, loginName, password);
  await heading(page, 'Signed in');
  return page;
}

// confirmIfAsked gives the password when a change asks to confirm it is
// the user (the check of the sign-in is older than the window).
async function confirmIfAsked(page) {
  await page.waitForLoadState('load');
  if ((await page.getByRole('heading', { level: 1, name: 'Confirm it is you' }).count()) > 0) {
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForLoadState('load');
  }
}

test('an authenticator app is added with its first code and then asked for at sign-in', async () => {
  const page = await signedIn();
  await page.goto(url('/ui/account/authenticators'));
  await heading(page, 'Sign-in methods');
  await page.getByRole('button', { name: 'Add an authenticator app' }).click();
  await confirmIfAsked(page);
  await heading(page, 'Add an authenticator app');
  assert.ok(await page.getByRole('img', { name: 'QR code of the authenticator key' }).isVisible());
  app = authenticatorApp((await page.locator('main code').innerText()).trim());

  await page.getByLabel('Code', { exact: true }).fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  await page.getByLabel('Code', { exact: true }).fill(await app.code());
  await page.getByRole('button', { name: 'Verify' }).click();
  // The session has not proven the factor the user now has: the next code
  // completes it, and the page returns.
  await heading(page, 'Confirm with a second factor');
  await page.getByLabel('Authenticator app code').fill(await app.code());
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Sign-in methods');
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Your authenticator app is set up.');

  // Recovery codes, shown once.
  await page.getByRole('button', { name: 'Make recovery codes' }).click();
  await confirmIfAsked(page);
  await heading(page, 'Your recovery codes');
  recovery = (await page.locator('ul.codes code').allInnerTexts()).map((c) => c.trim());
  assert.ok(recovery.length >= 8, `recovery codes: ${recovery}`);

  // At the next sign-in, the password is not enough.
  const next = await newPage(browser);
  await signIn(next, loginName, password);
  await heading(next, 'Second factor');
  await next.getByLabel('Authenticator app code').fill('000000');
  await next.getByRole('button', { name: 'Verify' }).click();
  assert.equal((await next.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  await next.getByLabel('Authenticator app code').fill(await app.code());
  await next.getByRole('button', { name: 'Verify' }).click();
  await heading(next, 'Signed in');
});

test('a recovery code signs in once instead of the authenticator app', async () => {
  const page = await newPage(browser);
  await signIn(page, loginName, password);
  await heading(page, 'Second factor');
  await page.getByRole('link', { name: 'Recovery code' }).click();
  await page.getByLabel('Recovery code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Signed in');

  // Spent: the same code does not sign in again.
  const again = await newPage(browser);
  await signIn(again, loginName, password);
  await again.goto(url('/ui/login/code/recovery_code'));
  await again.getByLabel('Recovery code').fill(recovery[0]);
  await again.getByRole('button', { name: 'Verify' }).click();
  assert.equal((await again.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  await again.close();
});

test('sign-in codes by email are turned on, sign in, and are turned off', async () => {
  const page = await newPage(browser);
  await signIn(page, loginName, password);
  await page.goto(url('/ui/login/code/recovery_code'));
  await page.getByLabel('Recovery code').fill(recovery[1]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Signed in');
  await page.goto(url('/ui/account/authenticators'));
  await page.getByRole('button', { name: 'Sign in with codes by email' }).click();
  await confirmIfAsked(page);
  assert.equal((await page.getByRole('status').innerText()).trim(), 'You can now sign in with codes sent by email.');

  const other = await newPage(browser);
  await signIn(other, loginName, password);
  await heading(other, 'Second factor');
  const sent = (await mails(email)).length;
  await other.getByRole('link', { name: 'Code sent by email' }).click();
  await other.getByLabel('Code sent by email').waitFor();
  const code = codeIn(await waitForMail(email, sent + 1));
  await other.getByLabel('Code sent by email').fill(code);
  await other.getByRole('button', { name: 'Verify' }).click();
  await heading(other, 'Signed in');
  await other.close();

  await page.goto(url('/ui/account/authenticators'));
  await page.getByRole('button', { name: 'Stop codes by email' }).click();
  await confirmIfAsked(page);
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Codes sent by email no longer sign you in.');
});

test('a passkey is added on the account page and removed', async () => {
  const page = await newPage(browser);
  const violations = cspViolations(page);
  const authenticator = await addVirtualAuthenticator(page);
  await signIn(page, loginName, password);
  await page.goto(url('/ui/login/code/recovery_code'));
  await page.getByLabel('Recovery code').fill(recovery[2]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Signed in');

  await page.goto(url('/ui/account/authenticators'));
  await page.getByRole('link', { name: 'Add a passkey' }).click();
  await confirmIfAsked(page);
  await heading(page, 'Add a passkey');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.waitForURL(/\/ui\/account\/authenticators\?done=passkey-added/);
  assert.equal((await page.getByRole('status').innerText()).trim(), 'The passkey is added.');
  assert.equal((await authenticator.credentials()).length, 1);
  const remove = page.locator('ul.accounts').getByRole('button', { name: /^Remove / });
  assert.equal(await remove.count(), 1);
  await remove.click();
  await confirmIfAsked(page);
  assert.equal((await page.getByRole('status').innerText()).trim(), 'The passkey is removed.');
  assert.ok(await page.getByText('You have no passkeys.').isVisible());
  assert.deepEqual(violations, [], 'the passkey pages broke their own Content-Security-Policy');
  await authenticator.remove();
});


test('the second-factor pages are in German, with no serious accessibility violations', async () => {
  const page = await newAccessibilityPage(browser, { locale: 'de-DE' });
  await signIn(page, loginName, password, { german: true });
  await heading(page, 'Zweiter Faktor');
  assert.ok(await page.getByLabel('Code der Authenticator-App').isVisible());
  await assertAccessible(page);
  await page.getByRole('link', { name: 'Wiederherstellungscode' }).click();
  await page.getByLabel('Wiederherstellungscode').fill('wrong-code');
  await page.getByRole('button', { name: 'Bestätigen' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'Der Code ist falsch.');
  await assertAccessible(page);
  await page.getByLabel('Wiederherstellungscode').fill(recovery[3]);
  await page.getByRole('button', { name: 'Bestätigen' }).click();
  await heading(page, 'Angemeldet');

  await page.goto(url('/ui/account/authenticators'));
  await heading(page, 'Anmeldemethoden');
  assert.ok(await page.getByText('Ihre Authenticator-App ist eingerichtet.').isVisible());
  await assertAccessible(page);
  await page.getByRole('button', { name: 'Neue Wiederherstellungscodes erstellen' }).click();
  await heading(page, 'Ihre Wiederherstellungscodes');
  await assertAccessible(page);
  // The user removes its second factors again.
  await page.goto(url('/ui/account/authenticators'));
  await page.getByRole('button', { name: 'Authenticator-App entfernen' }).click();
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Ihre Authenticator-App ist entfernt.');
  await page.getByRole('button', { name: 'Authenticator-App hinzufügen' }).click();
  await heading(page, 'Authenticator-App hinzufügen');
  assert.ok(await page.getByRole('img', { name: 'QR-Code des Authenticator-Schlüssels' }).isVisible());
  await assertAccessible(page);
  await page.goto(url('/ui/account/authenticators'));
  await page.getByRole('button', { name: 'Wiederherstellungscodes entfernen' }).click();
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Ihre Wiederherstellungscodes sind entfernt.');
  await page.close();
});
