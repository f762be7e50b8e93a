// The supervisors' wallboard in headless Chromium, driven by crates/yunhu/tests/wallboard.rs.
//
// The Rust test starts yunhu (telephony on) with inbound queue 9100, then runs this script with:
//   YUNHU_BOARD_URL         the server's base URL (http://127.0.0.1:PORT)
//   YUNHU_BOARD_SCREENSHOT  where to save the wallboard once the call is answered (PNG)
// It talks back on stdout with lines starting "@@": "@@board" (queue 9100's card shows nobody
// waiting: place the call now), "@@waiting" (the card shows the caller waiting: let an agent
// take it), "@@answered" (the card shows it answered and nobody waiting), "@@done". Progress and
// failures go to stderr. Every wait is on a condition with a timeout; the first unmet one fails.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('YUNHU_BOARD_URL');
const screenshot = env('YUNHU_BOARD_SCREENSHOT');

const WAIT = 15_000;
const say = (line) => process.stdout.write(`@@${line}\n`);
const step = (what) => process.stderr.write(`wallboard.mjs: ${what}\n`);

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'yunhu-board-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const page = browser.pages()[0] ?? (await browser.newPage());
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const consoleErrors = [];
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(m.text());
});
// The page must be self-contained: nothing but this server is asked for anything.
const foreign = [];
page.on('request', (r) => {
  if (!r.url().startsWith(base) && !r.url().startsWith(base.replace('http', 'ws'))) foreign.push(r.url());
});

/** Waits until `fn(arg)` is true in the page; fails naming `what`. */
async function until(what, fn, arg, timeout = WAIT) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (e) {
    const seen = await page.locator('[data-queue="9100"]').innerText().catch(() => '(no card)');
    throw new Error(`timed out waiting for ${what}; queue 9100 shows: ${seen.replace(/\s+/g, ' ')}`);
  }
}
/** The number shown in queue 9100's cell `key`. */
const cell = (key, n) =>
  until(
    `9100 ${key} = ${n}`,
    ([key, n]) => document.querySelector(`[data-testid="9100-${key}"]`)?.textContent === String(n),
    [key, n],
    40_000,
  );

async function signIn(password) {
  await page.fill('#corp', '777777');
  await page.fill('#extno', '1002');
  await page.fill('#password', password);
  await page.click('#login-btn');
}

async function run() {
  step('open /wallboard');
  await page.goto(`${base}/wallboard`);
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: WAIT });
  if ((await page.title()).indexOf('大屏') < 0) throw new Error('the page is not the wallboard');

  step('a wrong password is refused');
  await signIn('not-the-password');
  await until('the login error', () => document.getElementById('login-error').textContent.includes('密码错误'));
  // The refused login's HTTP 401 is the only resource error the page may log.
  consoleErrors.length = 0;

  step('sign in as supervisor 1002 of 777777');
  await signIn('desk-1002');
  await until('the socket', () => document.getElementById('link').dataset.up === '1');
  await cell('waiting', 0);
  await cell('entered', 0);
  const t = await page.locator('[data-testid="9100-t"]').innerText();
  if (t !== '20 s') throw new Error(`the service-level threshold shows ${t}`);
  say('board');

  step('the caller waits: the card counts them');
  await cell('waiting', 1);
  await cell('entered', 1);
  say('waiting');

  step('an agent takes the call: answered, nobody waiting');
  await cell('answered', 1);
  await cell('waiting', 0);
  await cell('on_call', 1);
  const sl = await page.locator('[data-testid="9100-sl"]').innerText();
  if (!/^\d+\.\d%$/.test(sl)) throw new Error(`the service level shows ${sl}`);
  await page.screenshot({ path: screenshot });
  say('answered');

  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join('; ')}`);
  if (foreign.length) throw new Error(`requests outside the server: ${foreign.join(', ')}`);
}

let failed = false;
try {
  await run();
  say('done');
} catch (e) {
  failed = true;
  step(`FAILED: ${e.message}`);
  const where = path.join(os.tmpdir(), `yunhu-board-failure-${process.pid}.png`);
  await page.screenshot({ path: where }).catch(() => {});
  step(`the page at the failure: ${where}`);
  say(`fail ${e.message}`);
} finally {
  await browser.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
