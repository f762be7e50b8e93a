// The web agent desk in headless Chromium, driven by crates/yunhu/tests/desk_browser.rs.
//
// The Rust test starts yunhu (telephony on) and agent 1001's phone, then runs this script with:
//   YUNHU_DESK_URL        the server's base URL (http://127.0.0.1:PORT)
//   YUNHU_ADMIN_TOKEN     the admin API's token (to post an announcement)
//   YUNHU_DESK_CUSTOMER   the number the carrier's call comes from
//   YUNHU_DESK_CITY       its 号码归属地 as the pop must show it
//   YUNHU_DESK_SCREENSHOT where to save the desk during the pop (PNG)
// It talks back on stdout with lines starting "@@": "@@ready" (the agent is ready: place the
// call now), "@@call <its id>", "@@uuid <customer record>", "@@token <desk token>", "@@done". Progress and failures
// go to stderr. Every wait is on a condition with a timeout; the first unmet one fails the run.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('YUNHU_DESK_URL');
const adminToken = env('YUNHU_ADMIN_TOKEN');
const customer = env('YUNHU_DESK_CUSTOMER');
const city = env('YUNHU_DESK_CITY');
const screenshot = env('YUNHU_DESK_SCREENSHOT');

const WAIT = 15_000;
const say = (line) => process.stdout.write(`@@${line}\n`);
const step = (what) => process.stderr.write(`desk.mjs: ${what}\n`);

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'yunhu-desk-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 860 },
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

// The monitor socket goes through a route, so the test can cut it and see how the page comes back.
const sockets = [];
await page.routeWebSocket(/\/agent\/monitor/, (ws) => {
  sockets.push(ws);
  ws.connectToServer();
});

/** Waits until `fn()` is true here in the script; fails naming `what`. */
async function untilHere(what, fn, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `fn(arg)` is true in the page; fails naming `what`. */
async function until(what, fn, arg, timeout = WAIT) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}`);
  }
}
/** An announcement to the tenant through the admin API. */
async function announce(msg) {
  const posted = await fetch(`${base}/yunhu/v1/tenants/777777/announcements`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ msg }),
  });
  if (posted.status !== 201) throw new Error(`announcement: HTTP ${posted.status}`);
}
const text = (sel) => page.locator(sel).innerText();
const status = (s) =>
  until(`agent state ${s}`, (s) => document.getElementById('state').dataset.status === String(s), s);

async function run() {
  step('open /desk');
  await page.goto(`${base}/desk`);
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: WAIT });
  if ((await page.title()).indexOf('坐席') < 0) throw new Error('the page is not the desk');

  step('a wrong password is refused with the envelope\'s msg');
  await page.fill('#corp', '777777');
  await page.fill('#extno', '1001');
  await page.fill('#password', 'not-the-password');
  await page.click('#login-btn');
  await until('the login error', () => document.getElementById('login-error').textContent.includes('密码错误'));

  // The refused login's HTTP 401 is the only resource error the page may log.
  consoleErrors.length = 0;
  step('log in as 1001 of 777777');
  await page.fill('#password', 'desk-1001');
  await page.click('#login-btn');
  await page.locator('#desk-view').waitFor({ state: 'visible', timeout: WAIT });
  await status(1);
  await until('the monitor socket', () => document.getElementById('link').dataset.up === '1');
  const token = await page.evaluate(() => sessionStorage.getItem('yunhu.desk.token'));
  if (!token) throw new Error('no token kept in sessionStorage');
  await until('the registered phone', () => document.getElementById('phone-state').dataset.phone === 'idle');
  if (!(await text('#who')).includes('张三')) throw new Error(`who: ${await text('#who')}`);

  step('an announcement arrives as a message frame');
  const note = '下午三点开会 meeting at 3 pm';
  await announce(note);
  await until('the announcement', (n) => document.getElementById('announcements').textContent.includes(n), note);

  step('the socket drops: the desk reconnects with the last seq and misses nothing');
  await untilHere('the first socket', () => sockets.length === 1);
  if (new URL(sockets[0].url()).searchParams.has('seq')) throw new Error('the first socket asked for a replay');
  await sockets[0].close({ code: 4001, reason: 'cut by the test' });
  await until('the desk offline', () => document.getElementById('link').dataset.up === '0');
  const missed = '断线期间的公告 sent while the desk was away';
  await announce(missed);
  await untilHere('the desk to reconnect', () => sockets.length === 2);
  const seq = new URL(sockets[1].url()).searchParams.get('seq');
  if (!/^[0-9]+$/.test(seq ?? '')) throw new Error(`the reconnect did not send the last seq: ${sockets[1].url()}`);
  await until('the desk online', () => document.getElementById('link').dataset.up === '1');
  await until('the missed announcement', (n) => document.getElementById('announcements').textContent.includes(n), missed);
  const shown = await page.$$eval('#announcements li', (lis) => lis.map((li) => li.lastChild.textContent));
  if (JSON.stringify(shown) !== JSON.stringify([missed, note])) throw new Error(`announcements: ${shown}`);

  step('not ready with a reason, then ready');
  await until('the reasons', () => document.querySelectorAll('#reason option').length >= 5);
  await page.selectOption('#reason', '5');
  await page.click('#btn-notready');
  await status(2);
  await until('the reason shown', () => document.getElementById('reason-now').textContent.includes('午餐'));
  await page.click('#btn-ready');
  await status(1);

  step('ready: the carrier calls now');
  say('ready');
  await until(
    'the screen pop',
    (n) => document.getElementById('pop-tel').textContent === n,
    customer,
    25_000,
  );
  const shownCity = await text('#pop-city');
  if (shownCity !== city) throw new Error(`号码归属地 shown ${shownCity}, expected ${city}`);
  await status(2);
  await until('the phone in call', () => document.getElementById('phone-state').dataset.phone === 'in_call');
  const uuid = await page.locator('#pop').getAttribute('data-uuid');
  if (!uuid) throw new Error('the pop has no customer record');
  const session = await page.locator('#pop').getAttribute('data-session');

  step('hold and resume from the desk');
  await page.locator('#btn-hold:not([disabled])').waitFor({ timeout: WAIT });
  await page.click('#btn-hold');
  await until('held', () => document.getElementById('btn-hold').dataset.held === '1');
  await page.click('#btn-hold');
  await until('resumed', () => document.getElementById('btn-hold').dataset.held === '0');
  if (await page.locator('#error.show').count()) throw new Error(`desk error: ${await text('#error')}`);

  step('the customer form');
  await page.locator('[data-field="关注产品"] input[type=checkbox]').first().waitFor({ timeout: WAIT });
  const names = await page.$$eval('#fields .field', (els) => els.map((e) => e.dataset.field));
  if (names.join(',') !== '年龄,意向,备注,关注产品') throw new Error(`form fields: ${names}`);
  // 年龄 is required: an empty submit shows the server's msg.
  await page.click('#btn-submit');
  await until('the required-field error', () => {
    const m = document.getElementById('form-msg');
    return m.classList.contains('err') && m.textContent.includes('年龄');
  });
  await page.fill('[data-field="年龄"] input', '39');
  await page.selectOption('[data-field="意向"] select', '高');
  await page.check('[data-field="关注产品"] input[value="宽带"]');
  await page.check('[data-field="关注产品"] input[value="电视"]');
  await page.fill('[data-field="备注"] textarea', '想了解宽带和电视套餐');
  await page.evaluate(() => {
    document.getElementById('form-msg').textContent = '';
    document.activeElement.blur();
  });
  await page.screenshot({ path: screenshot });
  step(`screenshot: ${screenshot}`);

  step('hang up from the desk: after-call work (事务) until the submit');
  await page.locator('#btn-hangup:not([disabled])').waitFor({ timeout: WAIT });
  await page.click('#btn-hangup');
  await status(3);
  await until('the wrap-up hint', () => document.getElementById('reason-now').textContent.includes('提交'));
  await until('the phone idle again', () => document.getElementById('phone-state').dataset.phone === 'idle');
  if ((await page.locator('#state').getAttribute('data-status')) !== '3') throw new Error('wrap-up ended by itself');

  step('submit: idle again');
  await page.click('#btn-submit');
  await until('the saved message', () => document.getElementById('form-msg').textContent.includes('已提交'));
  await status(1);

  step('the call in my recent calls, number masked');
  const masked = `${customer.slice(0, 3)}****${customer.slice(-4)}`;
  await until('the recent call', (m) => document.getElementById('calls').textContent.includes(m), masked);

  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join('; ')}`);
  if (foreign.length) throw new Error(`requests outside the server: ${foreign.join(', ')}`);
  say(`call ${session}`);
  say(`uuid ${uuid}`);
  say(`token ${token}`);
}

let failed = false;
try {
  await run();
  say('done');
} catch (e) {
  failed = true;
  step(`FAILED: ${e.message}`);
  const where = path.join(os.tmpdir(), `yunhu-desk-failure-${process.pid}.png`);
  await page.screenshot({ path: where }).catch(() => {});
  step(`the page at the failure: ${where}`);
  say(`fail ${e.message}`);
} finally {
  await browser.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
