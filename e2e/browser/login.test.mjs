// The hosted login's password sign-in, in a real browser: the forms, the
// generic failure, the Content-Security-Policy the pages run under, and
// their accessibility. (That a page cannot be framed: headers.test.mjs.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, cspViolations, env, launch, newAccessibilityPage, newPage, url } from './lib.mjs';

const signIn = url('/ui/login/');
const failure = 'The login name or password is wrong.';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

// enterLoginName opens the sign-in page and submits a login name.
async function enterLoginName(page, loginName) {
  await page.goto(signIn);
  await page.getByLabel('Login name').fill(loginName);
  await page.getByRole('button', { name: 'Next' }).click();
  // The password step follows for any name: it tells nobody whether an
  // account exists.
  await page.getByLabel('Password', { exact: true }).waitFor();
}

async function submitPassword(page, password) {
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}

function nonceOf(csp) {
  const m = /script-src 'nonce-([^']+)'/.exec(csp);
  return m?.[1];
}

test('the administrator signs in with the printed password and changes it', async () => {
  const page = await newPage(browser);
  const violations = cspViolations(page);
  await enterLoginName(page, env.adminLoginName);
  await submitPassword(page, env.adminPassword);

  // The first-start password must be changed before the sign-in ends.
  await page.getByRole('heading', { name: 'Change your password' }).waitFor();
  const newPassword = `Changed-${Date.now()}-in-the-browser`;
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await page.getByLabel('Repeat the new password').fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();

  await page.getByRole('heading', { name: 'Signed in' }).waitFor();
  assert.match(await page.locator('main').innerText(), new RegExp(`signed in as ${env.adminLoginName}\\.`, 'i'));
  assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible());
  // The browser's session is an HttpOnly cookie a script cannot read.
  const cookies = await page.context().cookies();
  assert.ok(cookies.length > 0, 'no cookie after signing in');
  for (const c of cookies) {
    assert.ok(c.httpOnly, `cookie ${c.name} is readable by scripts`);
  }
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.deepEqual(violations, [], 'the pages broke their own Content-Security-Policy');
});

test('a wrong password and an unknown login name get the same generic failure', async () => {
  const page = await newPage(browser);
  await enterLoginName(page, env.userLoginName);
  await submitPassword(page, `${env.userPassword}-wrong`);
  const wrongPassword = await page.getByRole('alert').innerText();
  assert.equal(wrongPassword.trim(), failure);
  assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByRole('heading', { name: 'Signed in' }).count(), 0);

  const other = await newPage(browser);
  await enterLoginName(other, `nobody-${Date.now()}`);
  await submitPassword(other, env.userPassword);
  assert.equal((await other.getByRole('alert').innerText()).trim(), wrongPassword.trim());

  // The right password still signs the user in afterwards.
  await submitPassword(page, env.userPassword);
  await page.getByRole('heading', { name: 'Signed in' }).waitFor();
});

test('the sign-in page runs under a nonce Content-Security-Policy and nothing else', async () => {
  const page = await newPage(browser);
  const violations = cspViolations(page);
  const first = await page.goto(signIn);
  const csp = first.headers()['content-security-policy'] ?? '';
  const nonce = nonceOf(csp);
  assert.ok(nonce && nonce.length >= 16, `no script nonce in CSP: ${csp}`);
  assert.match(csp, new RegExp(`style-src 'nonce-${nonce.replace(/[+/]/g, '\\$&')}'`), `CSP: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|unsafe-hashes|\*/, `CSP: ${csp}`);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /form-action 'self'/);
  // The stylesheet is the page's and loads under the nonce.
  const styled = await page.evaluate(() => [...document.styleSheets].some((s) => s.cssRules.length > 0));
  assert.ok(styled, 'the stylesheet did not load');
  // A new response has a new nonce.
  const second = await page.reload();
  assert.notEqual(nonceOf(second.headers()['content-security-policy']), nonce, 'the nonce is reused');
  // A script without the nonce does not run.
  const ran = await page.evaluate(async () => {
    const s = document.createElement('script');
    s.textContent = 'window.__injected = true';
    document.head.append(s);
    await new Promise((r) => setTimeout(r, 50));
    return window.__injected === true;
  });
  assert.equal(ran, false, 'an inline script without the nonce ran');
  assert.ok(violations.length > 0, 'Chromium reported no violation for the injected script');
});

test('the sign-in pages have no serious accessibility violations', async () => {
  const page = await newAccessibilityPage(browser);
  await page.goto(signIn);
  await assertAccessible(page);
  await enterLoginName(page, env.userLoginName);
  await assertAccessible(page);
  await submitPassword(page, `${env.userPassword}-wrong`);
  await page.getByRole('alert').waitFor();
  await assertAccessible(page);
});
