// Sign-in codes by SMS in a real browser: turned on on the account page
// for a verified phone, then asked for at sign-in, the code read from the
// SMS gateway the test runs (its webhook signature checked there).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { codeIn, createUser, launch, newPage, signIn, url, waitForText } from './lib.mjs';

const stamp = Date.now().toString(36);
const loginName = `sam-${stamp}`;
const password = `Sam-${stamp}-password`;
// A number of its own per run: the gateway keeps every message.
const phone = `+4179${String(Date.now() % 10_000_000).padStart(7, '0')}`;

let browser;
before(async () => {
  browser = await launch();
  await createUser(loginName, password, { phone, phoneVerified: true });
});
after(async () => {
  await browser?.close();
});

const heading = (page, name) => page.getByRole('heading', { level: 1, name }).waitFor();

test('sign-in codes by SMS are turned on and then asked for at sign-in', async () => {
  const page = await newPage(browser);
  await signIn(page, loginName, password);
  await heading(page, 'Signed in');
  await page.goto(url('/ui/account/authenticators'));
  await page.getByRole('button', { name: 'Sign in with codes by SMS' }).click();
  await page.waitForLoadState('load');
  if ((await page.getByRole('heading', { level: 1, name: 'Confirm it is you' }).count()) > 0) {
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Confirm' }).click();
  }
  // Now that the user has a second factor, the password alone no longer
  // suffices on the account page: it asks for the new factor at once.
  await heading(page, 'Confirm with a second factor');
  await page.getByRole('button', { name: 'Send a code' }).click();
  const first = await waitForText(phone, 1);
  await page.getByLabel('Code sent by SMS').fill(codeIn(first));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByText('Codes sent by SMS sign you in.').waitFor();

  const other = await newPage(browser);
  await signIn(other, loginName, password);
  await heading(other, 'Second factor');
  await other.getByLabel('Code sent by SMS').waitFor();
  const text = await waitForText(phone, 2);
  assert.match(text.body, /sign-in code/i);
  await other.getByLabel('Code sent by SMS').fill(codeIn(text) === '000000' ? '111111' : '000000');
  await other.getByRole('button', { name: 'Verify' }).click();
  assert.equal((await other.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  await other.getByLabel('Code sent by SMS').fill(codeIn(text));
  await other.getByRole('button', { name: 'Verify' }).click();
  await heading(other, 'Signed in');
});
