// Self-service in a real browser: registration with a form generated
// from the user type (the schema's violations marked at their fields),
// the email address confirmed with the code Castellan mails, organization
// sign-up, and recovery of a forgotten password, which answers alike
// whether the account exists or not; the pages in German and without
// serious accessibility violations.
//
// The tests turn registration on for the instance and add a field to the
// type "human"; they put both back at the end.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertAccessible, codeIn, cspViolations, launch, mails, newAccessibilityPage, newPage, url, waitForMail } from './lib.mjs';

const stamp = Date.now().toString(36);
const email = `grace-${stamp}@example.com`;
const password = `Grace-${stamp}-password`;

let browser;
let loginSettings;
let humanSchema;
// register is the registration page of the administrator's organization:
// once organization sign-up made a second one, the page needs the link
// that names one.
let register;
before(async () => {
  browser = await launch();
  const me = await api('GET', '/v1/me');
  register = url(`/ui/login/register?organization=${encodeURIComponent(me.user.organizationId)}`);
  loginSettings = (await api('GET', '/v1/settings')).settings.login;
  await api('PUT', '/v1/settings/login', { login: { ...loginSettings, selfRegistration: true, orgRegistration: true } });
  humanSchema = (await api('GET', '/v1/user_types/human')).userType.schema;
  const schema = structuredClone(humanSchema);
  schema.properties.city = {
    type: 'string',
    title: 'City',
    description: 'The city you live in',
    minLength: 2,
    maxLength: 100,
    permission: { self: 'rw', admin: 'rw' },
  };
  await api('PUT', '/v1/user_types/human', { schema });
});
after(async () => {
  await browser?.close();
  if (loginSettings) {
    await api('PUT', '/v1/settings/login', { login: loginSettings });
  }
  if (humanSchema) {
    await api('PUT', '/v1/user_types/human', { schema: humanSchema });
  }
});

const heading = (page, name) => page.getByRole('heading', { level: 1, name }).waitFor();

// errorOf is the text of the error an input names in aria-describedby.
async function errorOf(input) {
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  const ids = ((await input.getAttribute('aria-describedby')) ?? '').split(' ');
  const id = ids.find((i) => i.endsWith('-error'));
  assert.ok(id, `the input names no error: ${ids}`);
  return (await input.page().locator(`[id="${id}"]`).innerText()).trim();
}

test('a person registers with the generated form and confirms the address with the mailed code', async () => {
  const page = await newAccessibilityPage(browser);
  // The sign-in page links to it while the instance has one organization.
  await page.goto(url('/ui/login/'));
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create an account');
  // The schema's field, with its title and description.
  const city = page.getByLabel('City');
  assert.equal(await city.getAttribute('type'), 'text');
  assert.match(await page.locator(`[id="${(await city.getAttribute('aria-describedby')).split(' ')[0]}"]`).innerText(), /The city you live in/);
  await assertAccessible(page);

  // What the browser lets through but the server refuses: each error next
  // to its field, the values kept.
  await page.getByLabel('Email address').fill('grace@localhost');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the password').fill(`${password}-other`);
  await city.fill('B');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByRole('alert').waitFor();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'Check the marked fields.');
  assert.equal(await errorOf(page.getByLabel('Email address')), 'Enter a valid email address.');
  assert.equal(await errorOf(page.getByLabel('Password', { exact: true })), 'The passwords differ.');
  assert.match(await errorOf(page.getByLabel('City')), /2/);
  assert.equal(await page.getByLabel('City').inputValue(), 'B');
  await assertAccessible(page);

  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the password').fill(password);
  await page.getByLabel('City').fill('Arlington');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await heading(page, 'Confirm your email address');
  assert.match(await page.locator('main').innerText(), new RegExp(`We sent a message to ${email.replace(/[.]/g, '\\.')}\\.`));
  await assertAccessible(page);
  const code = codeIn(await waitForMail(email, 1));

  await page.getByLabel('Code').fill(code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  await assertAccessible(page);
  await page.getByLabel('Code').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Signed in');
  assert.match(await page.locator('main').innerText(), new RegExp(`signed in as ${email.replace(/[.]/g, '\\.')}\\.`, 'i'));

  // The city is the user's, on its profile.
  await page.goto(url('/ui/account/profile'));
  assert.equal(await page.getByLabel('City').inputValue(), 'Arlington');
});

test('registering an address that has an account answers alike and mails its owner instead', async () => {
  const page = await newPage(browser);
  await page.goto(register);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(`${password}-again`);
  await page.getByLabel('Repeat the password').fill(`${password}-again`);
  await page.getByRole('button', { name: 'Create an account' }).click();
  await heading(page, 'Confirm your email address');
  assert.match(await page.locator('main').innerText(), new RegExp(`We sent a message to ${email.replace(/[.]/g, '\\.')}\\.`));
  const told = await waitForMail(email, 2);
  assert.doesNotMatch(told.body, /\b[0-9]{6}\b/, 'the owner was sent a code');
  // No code makes a second account.
  await page.getByLabel('Code').fill(codeIn((await mails(email))[0]));
  await page.getByRole('button', { name: 'Verify' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'The code is wrong.');
});

test('a company signs up its organization and becomes its first user', async () => {
  const owner = `owner-${stamp}@example.com`;
  const orgName = `Acme ${stamp}`;
  const page = await newPage(browser);
  const violations = cspViolations(page);
  await page.goto(url('/ui/login/register/organization'));
  await heading(page, 'Register your organization');
  await page.getByLabel('Organization name').fill(orgName);
  await page.getByLabel('Email address').fill(owner);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the password').fill(password);
  await page.getByRole('button', { name: 'Register your organization' }).click();
  await heading(page, 'Confirm your email address');
  await page.getByLabel('Code').fill(codeIn(await waitForMail(owner, 1)));
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Signed in');
  // With two organizations, the sign-in page no longer offers the
  // registration that would not know which.
  await page.goto(url('/ui/login/?prompt=login'));
  await heading(page, 'Sign in');
  assert.equal(await page.getByRole('link', { name: 'Create an account' }).count(), 0);

  // The name is taken now.
  const again = await newPage(browser);
  await again.goto(url('/ui/login/register/organization'));
  await again.getByLabel('Organization name').fill(orgName);
  await again.getByLabel('Email address').fill(`other-${stamp}@example.com`);
  await again.getByLabel('Password', { exact: true }).fill(password);
  await again.getByLabel('Repeat the password').fill(password);
  await again.getByRole('button', { name: 'Register your organization' }).click();
  await again.getByRole('alert').waitFor();
  assert.equal(await errorOf(again.getByLabel('Organization name')), 'This name is taken. Choose another.');
  assert.deepEqual(violations, [], 'the registration pages broke their own Content-Security-Policy');
});

test('a forgotten password is reset with a mailed code, and nobody learns whether an account exists', async () => {
  const page = await newAccessibilityPage(browser);
  await page.goto(url('/ui/login/'));
  await page.getByLabel('Login name').fill(email);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await heading(page, 'Forgot your password?');
  await assertAccessible(page);
  const before = (await mails(email)).length;
  await page.getByLabel('Login name or email address').fill(email);
  await page.getByRole('button', { name: 'Send a code' }).click();
  await heading(page, 'Choose a new password');
  const answer = await page.locator('main').innerText();
  await assertAccessible(page);

  // Somebody asking for an account that does not exist sees the same.
  const stranger = await newPage(browser);
  await stranger.goto(url('/ui/login/recover'));
  await stranger.getByLabel('Login name or email address').fill(`nobody-${stamp}@example.com`);
  await stranger.getByRole('button', { name: 'Send a code' }).click();
  await heading(stranger, 'Choose a new password');
  assert.equal(await stranger.locator('main').innerText(), answer);
  await stranger.getByLabel('Code').fill('123456');
  await stranger.getByLabel('New password', { exact: true }).fill(`${password}-stranger`);
  await stranger.getByLabel('Repeat the new password').fill(`${password}-stranger`);
  await stranger.getByRole('button', { name: 'Change password' }).click();
  assert.equal((await stranger.getByRole('alert').innerText()).trim(), 'The code is wrong.');
  assert.equal((await mails(`nobody-${stamp}@example.com`)).length, 0);

  const code = codeIn(await waitForMail(email, before + 1));
  const next = `${password}-new`;
  await page.getByLabel('Code').fill(code);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password').fill(`${next}-typo`);
  await page.getByRole('button', { name: 'Change password' }).click();
  assert.equal(await errorOf(page.getByLabel('New password', { exact: true })), 'The passwords differ.');
  await assertAccessible(page);
  await page.getByLabel('Code').fill(code);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await heading(page, 'Signed in');
});

test('the self-service pages are in German, with no serious accessibility violations', async () => {
  const page = await newAccessibilityPage(browser, { locale: 'de-DE' });
  const pages = [
    [register, 'Konto erstellen', 'Damit melden Sie sich an.'],
    ['/ui/login/register/organization', 'Organisation registrieren', 'Name der Organisation'],
    ['/ui/login/recover', 'Passwort vergessen?', 'Anmeldename oder E-Mail-Adresse'],
  ];
  for (const [path, title, text] of pages) {
    await page.goto(url(path));
    await heading(page, title);
    assert.equal(await page.locator('html').getAttribute('lang'), 'de');
    assert.match(await page.locator('main').innerText(), new RegExp(text), `${path} in German`);
    await assertAccessible(page);
  }
  // A registration with errors, and its code page.
  await page.goto(register);
  const address = `ada-de-${stamp}@example.com`;
  await page.getByLabel('E-Mail-Adresse').fill(address);
  await page.getByLabel('Passwort', { exact: true }).fill(password);
  await page.getByLabel('Passwort wiederholen').fill(`${password}-x`);
  await page.getByRole('button', { name: 'Konto erstellen' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'Bitte die markierten Felder prüfen.');
  assert.equal(await errorOf(page.getByLabel('Passwort', { exact: true })), 'Die Passwörter stimmen nicht überein.');
  await assertAccessible(page);
  await page.getByLabel('Passwort', { exact: true }).fill(password);
  await page.getByLabel('Passwort wiederholen').fill(password);
  await page.getByRole('button', { name: 'Konto erstellen' }).click();
  await heading(page, 'E-Mail-Adresse bestätigen');
  assert.match(await page.locator('main').innerText(), /Wir haben eine Nachricht an/);
  await assertAccessible(page);
  // The recovery's answer.
  await page.goto(url('/ui/login/recover'));
  await page.getByLabel('Anmeldename oder E-Mail-Adresse').fill(`nobody-${stamp}`);
  await page.getByRole('button', { name: 'Code senden' }).click();
  await heading(page, 'Neues Passwort wählen');
  assert.match(await page.locator('main').innerText(), /Falls dieses Konto existiert/);
  await assertAccessible(page);
});
