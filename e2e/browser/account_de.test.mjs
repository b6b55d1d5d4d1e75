// The account pages in German (Accept-Language de), each checked with
// axe-core for serious or critical accessibility violations, as a user
// reaches them: signed in, with forms that show errors, and signed out.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, createUser, launch, newAccessibilityPage, signIn, url } from './lib.mjs';

const stamp = Date.now().toString(36);
const loginName = `erna-${stamp}`;
const password = `Erna-${stamp}-password`;

let browser;
before(async () => {
  browser = await launch();
  await createUser(loginName, password, { email: `erna-${stamp}@example.com` });
});
after(async () => {
  await browser?.close();
});

const heading = (page, name) => page.getByRole('heading', { level: 1, name }).waitFor();

test('the account pages are in German, with no serious accessibility violations', async () => {
  const page = await newAccessibilityPage(browser, { locale: 'de-DE' });
  await signIn(page, loginName, password, { german: true });
  await heading(page, 'Angemeldet');
  await assertAccessible(page);

  const pages = [
    ['/ui/account/', 'Ihr Konto', 'Anmeldemethoden'],
    ['/ui/account/profile', 'Profil', 'Speichern'],
    ['/ui/account/contact', 'E-Mail und Telefon', 'bestätigt'],
    ['/ui/account/password', 'Passwort ändern', 'Aktuelles Passwort'],
    ['/ui/account/authenticators', 'Anmeldemethoden', 'Wiederherstellungscodes'],
    ['/ui/account/sessions', 'Ihre Sitzungen', 'Dieser Browser'],
    ['/ui/account/confirm?next=/ui/account/authenticators', 'Bestätigen Sie, dass Sie es sind', 'Abbrechen'],
    ['/ui/account/passkeys/add', 'Passkey hinzufügen', 'Zurück'],
  ];
  for (const [path, title, text] of pages) {
    await page.goto(url(path));
    await heading(page, title);
    assert.equal(await page.locator('html').getAttribute('lang'), 'de');
    assert.match(await page.locator('main').innerText(), new RegExp(text), `${path} in German`);
    await assertAccessible(page);
  }
  // Forms with errors: the profile's field, the password's.
  await page.goto(url('/ui/account/profile'));
  await page.getByLabel('preferred language').fill('not a language!');
  await page.getByRole('button', { name: 'Speichern' }).click();
  assert.equal((await page.getByRole('alert').first().innerText()).trim(), 'Bitte die markierten Felder prüfen.');
  await assertAccessible(page);
  await page.goto(url('/ui/account/password'));
  await page.getByLabel('Aktuelles Passwort').fill('wrong');
  await page.getByLabel('Neues Passwort', { exact: true }).fill('x');
  await page.getByLabel('Neues Passwort wiederholen').fill('y');
  await page.getByRole('button', { name: 'Passwort ändern' }).click();
  assert.equal((await page.getByRole('alert').innerText()).trim(), 'Die Passwörter stimmen nicht überein.');
  await assertAccessible(page);
  // Sign-out, in German too.
  await page.goto(url('/ui/account/'));
  await page.getByRole('button', { name: 'Abmelden' }).click();
  await heading(page, 'Abgemeldet');
  await assertAccessible(page);
  await page.close();
});

test('a browser signed in to two accounts offers both, in German and accessibly', async () => {
  const other = `erna-other-${stamp}`;
  await createUser(other, password);
  const page = await newAccessibilityPage(browser, { locale: 'de-DE' });
  await signIn(page, loginName, password, { german: true });
  await heading(page, 'Angemeldet');
  await signIn(page, other, password, { german: true });
  await heading(page, 'Angemeldet');

  await page.goto(url('/ui/login/'));
  await heading(page, 'Konto auswählen');
  const accounts = page.locator('ul.accounts').getByRole('button');
  assert.deepEqual((await accounts.allInnerTexts()).map((n) => n.trim()).sort(), [loginName, other].sort());
  assert.ok(await page.getByRole('link', { name: 'Anderes Konto verwenden' }).isVisible());
  await assertAccessible(page);
  await page.getByRole('button', { name: loginName, exact: true }).click();
  await heading(page, 'Angemeldet');
  assert.match(await page.locator('main').innerText(), new RegExp(`Sie sind angemeldet als ${loginName}\\.`));
  await page.close();
});
