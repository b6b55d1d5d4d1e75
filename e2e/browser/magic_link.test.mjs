// Sign-in links ("email me a sign-in link") in a real browser: offered only
// where the login settings allow them, read from the SMTP server the test
// runs, confirmed on the link's page, good once; a second factor still
// follows when the settings require one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api,
  assertAccessible,
  createUser,
  cspViolations,
  launch,
  newAccessibilityPage,
  newPage,
  url,
  waitForMail,
} from './lib.mjs';

const stamp = Date.now().toString(36);
const loginName = `lin-${stamp}`;
const email = `lin-${stamp}@example.com`;
const password = `Lin-${stamp}-password`;
let loginSettings;
let sent = 0;

let browser;
before(async () => {
  browser = await launch();
  await createUser(loginName, password, { email, emailVerified: true });
  loginSettings = (await api('GET', '/v1/settings')).settings.login;
});
after(async () => {
  if (loginSettings) {
    await api('PUT', '/v1/settings/login', { login: loginSettings });
  }
  await browser?.close();
});

const heading = (page, name) => page.getByRole('heading', { level: 1, name }).waitFor();
const linkButton = (page) => page.getByRole('button', { name: 'Email me a sign-in link' });

// toPassword enters the login name and waits for the password page.
async function toPassword(page) {
  await page.goto(url('/ui/login/?prompt=login'));
  await page.getByLabel('Login name').fill(loginName);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Password', { exact: true }).waitFor();
}

// askForLink asks for a link on a fresh page and returns the link mailed.
async function askForLink() {
  const page = await newPage(browser);
  await toPassword(page);
  await linkButton(page).click();
  await heading(page, 'Check your email');
  await page.close();
  const mail = await waitForMail(email, ++sent);
  assert.match(mail.subject, /Your sign-in link for/);
  const m = /https?:\/\/[^\s"<>]+\/ui\/login\/link\?[^\s"<>]+/.exec(mail.body);
  assert.ok(m, `no link in the message:\n${mail.body}`);
  return m[0].replaceAll('&amp;', '&');
}

test('without the setting, no link is offered and a posted request is refused', async () => {
  await api('PUT', '/v1/settings/login', { login: { ...loginSettings, magicLinkAllowed: false } });
  const page = await newPage(browser);
  await toPassword(page);
  assert.equal(await linkButton(page).count(), 0);
  const csrf = await page.locator('input[name="csrf"]').first().getAttribute('value');
  const resp = await page.request.post(url('/ui/login/link/send'), { form: { csrf } });
  assert.equal(resp.status(), 403);
  assert.match(await resp.text(), /Sign-in links are not available here/);
});

test('a link from the email signs in, once, in another browser', async () => {
  await api('PUT', '/v1/settings/login', { login: { ...loginSettings, magicLinkAllowed: true } });
  const link = await askForLink();
  assert.ok(link.startsWith(url('/ui/login/link?')), `link ${link}`);

  // Opened elsewhere (a fresh context: another device), the link asks to
  // confirm; nothing is spent by opening it.
  const a11y = await newAccessibilityPage(browser);
  await a11y.goto(link);
  await heading(a11y, 'Sign in');
  await assertAccessible(a11y);
  await a11y.close();

  const page = await newPage(browser);
  const violations = cspViolations(page);
  await page.goto(link);
  await page.getByRole('button', { name: 'Continue' }).click();
  await heading(page, 'Signed in');
  assert.match(await page.locator('main').innerText(), new RegExp(`signed in as ${loginName}`));
  assert.deepEqual(violations, []);

  // Used: refused.
  const again = await newPage(browser);
  await again.goto(link);
  await again.getByRole('button', { name: 'Continue' }).click();
  await again.getByText('This sign-in link is not valid. Ask for a new one.').waitFor();
  await heading(again, 'Sign in');
});

test('a link replaced by a newer one is refused', async () => {
  const older = await askForLink();
  await askForLink();
  const page = await newPage(browser);
  await page.goto(older);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText('This sign-in link is not valid. Ask for a new one.').waitFor();
});

test('with a second factor required, the link leads to it', async () => {
  await api('PUT', '/v1/settings/login', { login: { ...loginSettings, magicLinkAllowed: true, mfaRequired: 'MFA_REQUIREMENT_EVERYONE' } });
  const link = await askForLink();
  const page = await newPage(browser);
  await page.goto(link);
  await page.getByRole('button', { name: 'Continue' }).click();
  await heading(page, 'Set up a second factor');
});

test('links turned off after one was sent are refused', async () => {
  await api('PUT', '/v1/settings/login', { login: { ...loginSettings, magicLinkAllowed: true } });
  const link = await askForLink();
  await api('PUT', '/v1/settings/login', { login: { ...loginSettings, magicLinkAllowed: false } });
  const page = await newPage(browser);
  const resp = await page.goto(link);
  assert.equal(resp.status(), 403);
});
