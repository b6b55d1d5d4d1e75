// The account pages, in a real browser, as a user goes through them:
// profile (a value the schema refuses is marked at its field; a script
// typed into a field stays text), email verification with the code
// Castellan mails, password change, sessions and sign-out; forms posted
// with a missing or wrong CSRF token refused. (The pages in German and
// their accessibility: account_de.test.mjs; second factors and passkeys:
// second_factors.test.mjs.)
//
// The tests run in order and share one user, made here.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  codeIn,
  createUser,
  cspViolations,
  launch,
  mails,
  newPage,
  signIn,
  url,
  waitForMail,
} from './lib.mjs';

const stamp = Date.now().toString(36);
const loginName = `ada-${stamp}`;
const email = `ada-${stamp}@example.com`;
let password = `Ada-${stamp}-first-password`;

let browser;
before(async () => {
  browser = await launch();
  await createUser(loginName, password, { email });
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

test('a user edits its profile, and a script typed into a field stays text', async () => {
  const page = await signedIn();
  const violations = cspViolations(page);
  await page.getByRole('link', { name: 'Your account' }).click();
  await heading(page, 'Your account');
  await page.getByRole('link', { name: 'Profile' }).click();
  await heading(page, 'Profile');

  // A value the schema refuses: its words, next to its field.
  await page.getByLabel('preferred language').fill('not a language!');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('alert').waitFor();
  assert.equal((await page.getByRole('alert').first().innerText()).trim(), 'Check the marked fields.');
  const field = page.getByLabel('preferred language');
  assert.equal(await field.getAttribute('aria-invalid'), 'true');
  const described = (await field.getAttribute('aria-describedby')) ?? '';
  const errorID = described.split(' ').find((id) => id.endsWith('-error'));
  assert.ok(errorID, `the field names no error: ${described}`);
  assert.ok((await page.locator(`[id="${errorID}"]`).innerText()).trim().length > 0, 'the error next to the field is empty');

  const hostile = `<script>window.__injected = 1</script><img src=x onerror="window.__injected = 2">Ada`;
  await field.fill('de-CH');
  await page.getByLabel('display name').fill(hostile);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').waitFor();
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Your profile is saved.');
  // The value comes back as the user typed it, as text: no element, no
  // script ran.
  assert.equal(await page.getByLabel('display name').inputValue(), hostile);
  assert.equal(await page.evaluate(() => window.__injected), undefined);
  assert.equal(await page.locator('main img[src="x"], main script').count(), 0);
  assert.deepEqual(violations, [], 'the account pages broke their own Content-Security-Policy');
});

test('a form posted without its CSRF token, or with a wrong one, is refused', async () => {
  const page = await signedIn();
  await page.goto(url('/ui/account/profile'));
  const before = await page.getByLabel('display name').inputValue();

  // A wrong token.
  await page.getByLabel('display name').fill('Changed by a forged form');
  await page.locator('form[action="/ui/account/profile"] input[name="csrf"]').evaluate((el) => {
    el.value = 'forged';
  });
  let answer = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Save' }).click();
  assert.equal((await answer).status(), 403);
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'The form has expired. Please try again.');

  // No token at all, posted from the page's own origin.
  const status = await page.evaluate(async () => {
    const resp = await fetch('/ui/account/profile', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ 'trait/profile/display_name': 'Changed without a token' }),
    });
    return resp.status;
  });
  assert.equal(status, 403);

  // Neither changed anything; a token of another browser does not work
  // here either.
  const other = await signedIn();
  await other.goto(url('/ui/account/profile'));
  const othersToken = await other.locator('form[action="/ui/account/profile"] input[name="csrf"]').inputValue();
  await page.goto(url('/ui/account/profile'));
  assert.equal(await page.getByLabel('display name').inputValue(), before);
  await page.locator('form[action="/ui/account/profile"] input[name="csrf"]').evaluate((el, token) => {
    el.value = token;
  }, othersToken);
  answer = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Save' }).click();
  assert.equal((await answer).status(), 403);
  await page.goto(url('/ui/account/profile'));
  assert.equal(await page.getByLabel('display name').inputValue(), before);
  await other.close();
});

test('the email address is verified with the code Castellan mails', async () => {
  const page = await signedIn();
  await page.goto(url('/ui/account/'));
  await page.getByRole('link', { name: 'not verified' }).first().click();
  await heading(page, 'Email and phone');
  const sent = (await mails(email)).length;
  await page.getByRole('button', { name: 'Send a code' }).first().click();
  await page.getByRole('status').waitFor();
  const code = codeIn(await waitForMail(email, sent + 1));

  await page.getByLabel('Code sent by email').fill(code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'Verify' }).first().click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  await page.getByLabel('Code sent by email').fill(code);
  await page.getByRole('button', { name: 'Verify' }).first().click();
  await heading(page, 'Email and phone');
  assert.match(await page.locator('main').innerText(), new RegExp(`${email.replace(/[.]/g, '\\.')} · verified`));
});

test('a password change asks for the current password', async () => {
  const page = await signedIn();
  await page.goto(url('/ui/account/password'));
  await heading(page, 'Change your password');
  const next = `Ada-${stamp}-second-password`;
  await page.getByLabel('Current password').fill(`${password}-wrong`);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'The current password is wrong.');
  assert.equal(await page.getByLabel('Current password').getAttribute('aria-invalid'), 'true');

  await page.getByLabel('Current password').fill(password);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('status').waitFor();
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Your password is changed.');
  password = next;
  // The new password signs in.
  await (await signedIn()).close();
});

test('the sessions of the user are listed and ended, and sign-out ends this one', async () => {
  const page = await signedIn();
  const other = await signedIn();
  await page.goto(url('/ui/account/sessions'));
  await heading(page, 'Your sessions');
  assert.equal(await page.getByText('This browser').count(), 1);
  assert.ok((await page.getByText('Another session').count()) >= 1);
  await page.getByRole('button', { name: 'End all other sessions' }).click();
  assert.equal((await page.getByRole('status').innerText()).trim(), 'Your other sessions are ended.');
  assert.equal(await page.getByText('Another session').count(), 0);

  // The other browser is signed out.
  await other.goto(url('/ui/account/'));
  await heading(other, 'Sign in');
  assert.match(other.url(), /\/ui\/login\//);

  // Sign-out ends this browser's session.
  await page.goto(url('/ui/account/'));
  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Signed out');
  await page.goto(url('/ui/account/'));
  await heading(page, 'Sign in');
});
