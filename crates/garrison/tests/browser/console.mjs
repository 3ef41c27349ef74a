// The console end to end in headless Chromium: sign in, open the top incident, follow a
// reasoning claim to its evidence, approve a pending action, record a verdict, and find both in
// the audit log. Screenshots of each step go to $GARRISON_ARTIFACTS. Prints a JSON summary.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.GARRISON_URL;
const user = process.env.GARRISON_USER;
const password = process.env.GARRISON_PASSWORD;
const artifacts = process.env.GARRISON_ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.GARRISON_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const expect = (condition, what) => {
  if (!condition) throw new Error(`expected ${what}`);
};
const summary = {};

try {
  await page.goto(`${base}/`);
  expect(page.url().includes('/login'), `to be sent to sign in, at ${page.url()}`);
  await shot('01-sign-in');
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  expect(new URL(page.url()).pathname === '/', `the queue after signing in, at ${page.url()}`);
  const rows = await page.locator('table.queue tbody tr').count();
  expect(rows > 0, 'incidents in the queue');
  summary.queue = rows;
  await shot('02-queue');

  // The top incident.
  const top = page.locator('table.queue tbody tr').first().locator('a[href^="/incidents/"]');
  summary.incidentTitle = (await top.textContent()).trim();
  await Promise.all([page.waitForNavigation(), top.click()]);
  summary.incident = new URL(page.url()).pathname.split('/').pop();
  expect(await page.locator('h2', { hasText: 'Reasoning' }).count() === 1, 'a reasoning section');
  await shot('03-incident');

  // A claim of the reasoning, to its evidence and back.
  const cited = page.locator('ol.reasoning li a.evidence').first();
  summary.claim = (await page.locator('ol.reasoning li').first().textContent()).trim().slice(0, 200);
  summary.evidence = (await cited.textContent()).trim();
  await Promise.all([page.waitForNavigation(), cited.click()]);
  expect(page.url().endsWith(`/evidence/${summary.evidence}`), 'the evidence page');
  expect(await page.locator('dl.source').count() === 1, 'where the original record is');
  summary.fields = await page.locator('table.fields tbody tr').count();
  expect(summary.fields > 0, 'the record\'s fields');
  // The original as taken, and its OCSF form.
  expect(await page.locator('pre.original').count() === 1, 'the original record, read again');
  const ocsf = JSON.parse(await page.locator('pre.ocsf').textContent());
  summary.ocsfClass = ocsf.class_uid;
  expect(Number.isInteger(ocsf.class_uid) && ocsf.class_uid > 0, `an OCSF class, found ${ocsf.class_uid}`);
  await shot('04-evidence');
  await page.goBack();

  // Approve the first pending action.
  const approve = page.locator('form[action$="/approve"]').first();
  expect(await approve.count() === 1, 'an action awaiting approval');
  const action = (await approve.getAttribute('action')).split('/')[2];
  summary.action = decodeURIComponent(action);
  await Promise.all([page.waitForNavigation(), approve.locator('button').click()]);
  const state = await page.locator(`tr[id="action-${summary.action}"] .state`).textContent();
  expect(state.trim() === 'approved', `the action approved, found ${state}`);
  await shot('05-approved');

  // A verdict.
  await page.check('form.verdict input[value=true_positive]');
  await page.fill('form.verdict input[name=note]', 'confirmed with the host owner');
  await Promise.all([page.waitForNavigation(), page.click('form.verdict button[type=submit]')]);
  const verdict = await page.locator('p.verdict').last().textContent();
  expect(verdict.includes('true_positive') && verdict.includes(`user:${user}`), `the verdict shown, found ${verdict}`);
  await shot('06-verdict');

  // Both in the audit log, under the person's name.
  await page.click('header nav a[href="/audit"]');
  await page.waitForLoadState();
  const entries = await page.locator('table.audit tbody tr').allTextContents();
  const approved = entries.find((row) => row.includes('response_approved') && row.includes(`user:${user}`));
  const judged = entries.find((row) => row.includes('decision_recorded') && row.includes(`user:${user}`));
  expect(approved && judged, 'the approval and the verdict in the audit log');
  expect((await page.locator('p.chain').textContent()).includes('intact'), 'an intact chain');
  summary.audit = { approved: approved.replace(/\s+/g, ' ').trim(), judged: judged.replace(/\s+/g, ' ').trim() };
  await shot('07-audit');

  // The agents serving, with their counters.
  await page.click('header nav a[href="/agents"]');
  await page.waitForLoadState();
  const agents = await page.locator('table.agents tbody tr').allTextContents();
  summary.agents = agents.length;
  const roles = await page.locator('table.agents tbody tr td:first-child').allTextContents();
  expect(['triage', 'investigate', 'verify', 'report', 'respond'].every((role) => roles.includes(role)), `the team's roles, found ${roles}`);
  expect(agents.every((row) => row.includes('running')), 'every agent running');
  await shot('08-agents');
  console.log(JSON.stringify(summary));
} catch (error) {
  await shot('failure').catch(() => {});
  console.error(`browser test failed at ${page.url()}: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
