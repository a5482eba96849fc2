// Real-browser checks of the credentials page (`/` and `/credentials/{id}`), run by
// tests/web_browser.rs against a running `bccreds watch` (MODE=watch) or `bccreds serve`
// (MODE=serve). Drives Debian's Chromium through playwright-core and runs axe-core in the page.
//
// Environment:
//   BASE_URL        the server, e.g. http://127.0.0.1:8080
//   MODE            watch (default: a reconciler runs, the page updates itself) or serve
//   MANIFEST_DIR    the watched manifest directory (watch mode: one label is edited there)
//   SCREENSHOT_DIR  where the screenshots go (created when missing)
//   LEAK_TOKENS     comma-separated secret values that must appear in no page
//   SCENARIO        JSON: what the store holds (see tests/web_browser.rs)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//
// Every check runs even when an earlier one failed; the script prints one line per check and
// exits 1 when any failed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`page.test.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const BASE = required('BASE_URL').replace(/\/+$/, '');
const MODE = process.env.MODE || 'watch';
const SCREENSHOT_DIR = required('SCREENSHOT_DIR');
const MANIFEST_DIR = MODE === 'watch' ? required('MANIFEST_DIR') : process.env.MANIFEST_DIR;
const LEAK_TOKENS = (process.env.LEAK_TOKENS || '').split(',').map((t) => t.trim()).filter(Boolean);
const SCENARIO = JSON.parse(required('SCENARIO'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PREFIX = MODE === 'watch' ? '' : `${MODE}-`;

const COLUMNS = ['label', 'apiUrl', 'status', 'ready', 'managedBy', 'lastVerified', 'reason'];
const FIELDS = ['Label', 'API URL', 'Client ID', 'Status', 'Default locale', 'Default currency',
  'Access token', 'Client secret', 'Managed by', 'Source'];
const ALL_LABELS = [SCENARIO.mapped, SCENARIO.inactive, SCENARIO.script, SCENARIO.broken];
const TOTAL = ALL_LABELS.length;

// ---------------------------------------------------------------------------------------------
// Reporting

const results = [];
const warnings = [];
/** Every document and response body seen, for the leak check: [where, text]. */
const seen = [];

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function expectEqual(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  expect(g === w, `${what}: expected ${w}, got ${g}`);
}

function warn(message) {
  warnings.push(message);
  console.log(`  warning: ${message}`);
}

async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    const message = e instanceof CheckFailed ? e.message : (e && e.stack) || String(e);
    results.push({ name, ok: false, message });
    console.log(`FAIL ${name}\n     ${message.replace(/\n/g, '\n     ')}`);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until it returns a truthy value or `ms` pass; returns the value, or throws
 * `message` (a string or a function of the last value) with the last value seen. Errors
 * inside `probe` (a navigation replacing the document mid-evaluation) count as "not yet".
 */
async function poll(probe, ms, message) {
  const deadline = Date.now() + ms;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await probe();
      lastError = undefined;
      if (last) return last;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) break;
    await sleep(50);
  }
  let text = message;
  if (typeof message === 'function') {
    try {
      text = await message(last);
    } catch (e) {
      text = `(the page changed while describing the failure: ${e.message})`;
    }
  }
  throw new CheckFailed(lastError ? `${text} (last error: ${lastError.message})` : text);
}

// ---------------------------------------------------------------------------------------------
// Reading the page

const norm = (s) => (s ?? '').replace(/\s+/g, ' ').trim();

/** The list's rows: id, label and the cells by column, in display order. */
async function rows(page) {
  return page.$$eval('#credentials tr[data-id]', (trs) => {
    const out = [];
    for (const tr of trs) {
      const cell = (c) => {
        const td = tr.querySelector(`td.col-${c}`);
        return td ? td.textContent.replace(/\s+/g, ' ').trim() : null;
      };
      const link = tr.querySelector('td.col-label a');
      out.push({
        id: tr.getAttribute('data-id'),
        href: link ? link.getAttribute('href') : null,
        label: link ? link.textContent.replace(/\s+/g, ' ').trim() : cell('label'),
        apiUrl: cell('apiUrl'),
        status: cell('status'),
        ready: cell('ready'),
        managedBy: cell('managedBy'),
        lastVerified: cell('lastVerified'),
        reason: cell('reason'),
      });
    }
    return out;
  });
}

const labelsOf = (rs) => rs.map((r) => r.label);

async function text(page, selector) {
  const el = await page.$(selector);
  return el ? norm(await el.textContent()) : null;
}

/** Rows of a two-or-more column table as arrays of cell texts (header rows left out). */
async function tableRows(page, selector) {
  return page.$$eval(`${selector} tr`, (trs) => trs
    .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.replace(/\s+/g, ' ').trim()))
    .filter((cells) => cells.length > 0));
}

async function fields(page) {
  return page.$$eval('#fields dt', (dts) => {
    const out = {};
    for (const dt of dts) {
      let dd = dt.nextElementSibling;
      while (dd && dd.tagName !== 'DD') dd = dd.nextElementSibling;
      out[dt.textContent.replace(/\s+/g, ' ').trim()] = dd ? dd.textContent.replace(/\s+/g, ' ').trim() : null;
    }
    return out;
  });
}

async function conditions(page) {
  return page.$$eval('#conditions tr[data-type]', (trs) => trs.map((tr) => {
    const cell = (c) => {
      const td = tr.querySelector(`td.${c}`);
      return td ? td.textContent.replace(/\s+/g, ' ').trim() : null;
    };
    return {
      type: tr.getAttribute('data-type'),
      status: cell('cond-status'),
      reason: cell('cond-reason'),
      message: cell('cond-message'),
      since: cell('cond-since'),
    };
  }));
}

/** Navigates and records the document for the leak check. */
async function visit(page, urlPath) {
  const response = await page.goto(`${BASE}${urlPath}`, { waitUntil: 'load' });
  expect(response, `GET ${urlPath}: no response`);
  expect(response.status() === 200, `GET ${urlPath}: HTTP ${response.status()}, expected 200`);
  await record(page, `page ${urlPath}`);
  return response;
}

async function record(page, where) {
  try {
    seen.push([where, await page.content()]);
  } catch (e) {
    warn(`could not read the document of ${where}: ${e.message}`);
  }
}

async function raw(urlPath) {
  const response = await fetch(`${BASE}${urlPath}`, { redirect: 'manual' });
  const body = await response.text();
  seen.push([`GET ${urlPath}`, body]);
  return { status: response.status, headers: response.headers, body };
}

// ---------------------------------------------------------------------------------------------
// Accessibility

const AXE_SOURCE = fs.readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page; fails on serious or critical violations, prints the rest. */
async function axe(page, where) {
  // page.evaluate goes through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary || ''}`.replace(/\s+/g, ' ')),
    }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of violations.filter((x) => !bad.includes(x))) {
    warn(`axe (${where}): ${v.impact} ${v.id}: ${v.help} [${v.nodes.join(' | ')}]`);
  }
  expect(bad.length === 0, `axe found serious/critical violations on ${where}:\n${bad
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n  ${v.nodes.join('\n  ')}`).join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Content-Security-Policy

function parseCsp(header) {
  const directives = {};
  for (const part of header.split(';')) {
    const tokens = part.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0) continue;
    const name = tokens.shift().toLowerCase();
    if (!(name in directives)) directives[name] = tokens.map((t) => t.toLowerCase());
  }
  return directives;
}

function checkCsp(headers, where) {
  const header = headers.get('content-security-policy');
  expect(header, `${where}: no Content-Security-Policy header`);
  const d = parseCsp(header);
  const def = d['default-src'] || [];
  expect(def.includes("'none'") || def.includes("'self'"),
    `${where}: CSP default-src is neither 'none' nor 'self': ${header}`);
  const script = d['script-src'] || d['default-src'] || [];
  expect(!script.includes("'unsafe-inline'"), `${where}: CSP script-src allows 'unsafe-inline': ${header}`);
  if (script.includes("'unsafe-eval'")) warn(`${where}: CSP script-src allows 'unsafe-eval': ${header}`);
  return header;
}

// ---------------------------------------------------------------------------------------------
// The browser

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bccreds-chromium-'));
fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });

// A fresh profile of our own; playwright-core adds --headless (headless: true) and the
// --user-data-dir of the persistent context.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  // The page runs under its real CSP: its own scripts must work with it.
  viewport: { width: 1280, height: 900 },
});
const browser = context.browser();

/** Problems the browser reported: uncaught errors, CSP violations, failed sub-resources. */
const browserProblems = [];
const dialogs = [];

function watchPage(page) {
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => browserProblems.push(`uncaught error on ${page.url()}: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const t = msg.text();
    if (/Content Security Policy/i.test(t)) browserProblems.push(`CSP violation on ${page.url()}: ${t}`);
    else if (!/Failed to load resource/.test(t)) warn(`console error on ${page.url()}: ${t}`);
  });
  page.on('response', (response) => {
    const type = response.request().resourceType();
    if (response.status() >= 400 && ['stylesheet', 'script', 'image', 'font'].includes(type)) {
      browserProblems.push(`${type} ${response.url()} answered HTTP ${response.status()}`);
    } else if (response.status() >= 400 && type !== 'document') {
      warn(`${type} ${response.url()} answered HTTP ${response.status()}`);
    }
  });
  page.on('requestfailed', (request) => {
    const type = request.resourceType();
    if (['stylesheet', 'script', 'image', 'font'].includes(type)) {
      browserProblems.push(`${type} ${request.url()} failed: ${request.failure()?.errorText}`);
    }
  });
  return page;
}

const page = watchPage(context.pages()[0] || await context.newPage());

/** label → { id, href } from the list, filled by the first check. */
const ids = {};

// ---------------------------------------------------------------------------------------------
// The checks

console.log(`page.test.mjs: ${MODE} mode against ${BASE} (Chromium ${browser ? browser.version() : '?'})`);

await check('11. CSP header on / and on a detail page', async () => {
  const list = await raw('/');
  expect(list.status === 200, `GET /: HTTP ${list.status}`);
  const header = checkCsp(list.headers, 'GET /');
  console.log(`     CSP: ${header}`);
  const ctype = list.headers.get('content-type') || '';
  expect(/^text\/html/i.test(ctype), `GET /: Content-Type is ${JSON.stringify(ctype)}, expected text/html`);
  const m = list.body.match(/href="\/credentials\/([^"?#]+)"/);
  expect(m, 'GET /: no link to /credentials/{id} in the HTML');
  const detail = await raw(`/credentials/${m[1]}`);
  expect(detail.status === 200, `GET /credentials/${m[1]}: HTTP ${detail.status}`);
  checkCsp(detail.headers, `GET /credentials/${m[1]}`);
});

await check(`1. the list shows all ${TOTAL} rows and "#count" says "${TOTAL} of ${TOTAL} credentials"`, async () => {
  await visit(page, '/');
  for (const selector of ['form#filters', '#filters input[type="search"][name="q"]#search',
    'select#filter-status[name="status"]', 'select#filter-ready[name="ready"]',
    'select#filter-managed[name="managed"]', '#filters button[type="submit"]#apply-filters',
    '#results #count', '#results table#credentials']) {
    expect(await page.$(selector), `no element matches ${selector}`);
  }
  const form = await page.$eval('#filters', (f) => ({ method: f.getAttribute('method'), action: f.getAttribute('action') }));
  expectEqual({ method: (form.method || '').toLowerCase(), action: form.action }, { method: 'get', action: '/' }, 'form#filters method/action');
  const options = await page.$$eval('select', (ss) => Object.fromEntries(ss.map((s) => [s.id, [...s.options].map((o) => o.value)])));
  expectEqual(options['filter-status'], ['', 'active', 'inactive'], '#filter-status options');
  expectEqual(options['filter-ready'], ['', 'true', 'false', 'unknown'], '#filter-ready options');
  expectEqual(options['filter-managed'], ['', 'yes', 'no'], '#filter-managed options');
  const rs = await rows(page);
  for (const r of rs) ids[r.label] = r.id;
  expectEqual(await text(page, '#count'), `${TOTAL} of ${TOTAL} credentials`, '#count');
  expectEqual([...labelsOf(rs)].sort(), [...ALL_LABELS].sort(), 'labels of the rows (sorted)');
  for (const r of rs) {
    expectEqual(r.href, `/credentials/${r.id}`, `href of the label link of row ${JSON.stringify(r.label)}`);
    for (const c of COLUMNS) expect(r[c] !== null, `row ${JSON.stringify(r.label)} has no td.col-${c}`);
  }
  const byLabel = Object.fromEntries(rs.map((r) => [r.label, r]));
  expectEqual(byLabel[SCENARIO.mapped].status, 'Active', `td.col-status of ${SCENARIO.mapped}`);
  expectEqual(byLabel[SCENARIO.inactive].status, 'Inactive', `td.col-status of ${SCENARIO.inactive}`);
  expectEqual(byLabel[SCENARIO.mapped].ready, 'True', `td.col-ready of ${SCENARIO.mapped}`);
  expectEqual(byLabel[SCENARIO.mapped].reason, '', `td.col-reason of ${SCENARIO.mapped}`);
  expect(byLabel[SCENARIO.mapped].apiUrl.includes(SCENARIO.mappedStore),
    `td.col-apiUrl of ${SCENARIO.mapped} is ${JSON.stringify(byLabel[SCENARIO.mapped].apiUrl)}, expected it to name store ${SCENARIO.mappedStore}`);
  if (MODE === 'watch') {
    expect(await page.$('#last-pass'), 'no #last-pass in watch mode');
    expect(norm(await page.textContent('#last-pass')) !== '', '#last-pass is empty in watch mode');
  }
  const ths = await page.$$eval('#credentials th[data-column]', (t) => t.map((th) => th.getAttribute('data-column')));
  expectEqual(ths, COLUMNS, 'th[data-column] of #credentials, in order');
});

await check('HTML escaping: the <script> label is text, no dialog opens, raw HTML has no live <script>alert', async () => {
  await visit(page, '/');
  const rs = await rows(page);
  expect(labelsOf(rs).includes(SCENARIO.script),
    `no row's label textContent is ${JSON.stringify(SCENARIO.script)}; labels: ${JSON.stringify(labelsOf(rs))}`);
  const { body } = await raw('/');
  expect(!body.includes('<script>alert(1)</script>'), 'GET / contains the label unescaped: <script>alert(1)</script>');
  expect(body.includes('&lt;script&gt;alert(1)&lt;/script&gt;') || body.includes('&lt;script>alert(1)&lt;/script>'),
    'GET / does not contain the escaped label &lt;script&gt;alert(1)&lt;/script&gt;');
  const scripts = await page.$$eval('script', (ss) => ss.map((s) => s.textContent).filter((t) => t.includes('alert')));
  expectEqual(scripts, [], 'script elements mentioning alert');
  expectEqual(dialogs, [], 'dialogs opened');
});

await check('2. typing in #search narrows the rows live, without a navigation', async () => {
  await visit(page, '/');
  // A full navigation replaces window; history.replaceState/pushState keep it.
  await page.evaluate(() => { window.__bccredsNoNavigation = true; });
  {
    const part = SCENARIO.mapped.slice(0, 4);
    const started = Date.now();
    await page.locator('#search').pressSequentially(part, { delay: 30 });
    const got = await poll(async () => {
      const rs = await rows(page);
      return rs.length === 1 && rs[0].label === SCENARIO.mapped ? rs : null;
    }, 2500, () => `typing ${JSON.stringify(part)} did not narrow #credentials to [${JSON.stringify(SCENARIO.mapped)}] within 2.5 s`);
    console.log(`     narrowed to ${JSON.stringify(labelsOf(got))} ${Date.now() - started} ms after the first key`);
    await poll(async () => (await text(page, '#count')) === `1 of ${TOTAL} credentials`, 1000,
      async () => `#count is ${JSON.stringify(await text(page, '#count'))}, expected "1 of ${TOTAL} credentials"`);

    await page.locator('#search').fill('');
    await page.locator('#search').pressSequentially('script>', { delay: 30 });
    await poll(async () => {
      const rs = await rows(page);
      return rs.length === 1 && rs[0].label === SCENARIO.script;
    }, 2500, async () => `typing "script>" did not narrow the rows to the <script> label; rows: ${JSON.stringify(labelsOf(await rows(page)))}`);

    await page.locator('#search').fill('');
    await page.locator('#search').pressSequentially('zzz-no-such', { delay: 20 });
    await poll(async () => (await text(page, '#empty'))?.startsWith('No credentials match'), 2500,
      async () => `a search matching nothing: #empty is ${JSON.stringify(await text(page, '#empty'))}, expected it to start with "No credentials match"`);
    expect(!(await page.$('#credentials')), 'a search matching nothing still shows table#credentials');

    expect(await page.evaluate(() => window.__bccredsNoNavigation === true), 'live search reloaded the page (a full navigation)');
    expectEqual(dialogs, [], 'dialogs opened');
  }
});

await check('3. clicking the Label header sorts: two clicks flip the order and aria-sort', async () => {
  await visit(page, '/');
  const sortState = async () => ({
    aria: await page.getAttribute('#credentials th[data-column="label"]', 'aria-sort'),
    labels: labelsOf(await rows(page)),
  });
  const link = '#credentials th[data-column="label"] a';
  for (const c of COLUMNS) {
    const href = await page.getAttribute(`#credentials th[data-column="${c}"] a`, 'href').catch(() => null);
    expect(href && new URLSearchParams(href.replace(/^[^?]*\?/, '')).get('sort') === c,
      `th[data-column="${c}"] a has href ${JSON.stringify(href)}, expected one with sort=${c}`);
    expect(/[?&]dir=(asc|desc)(&|$)/.test(href), `th[data-column="${c}"] a href ${JSON.stringify(href)} has no dir=asc|desc`);
  }
  const before = await sortState();
  await page.click(link);
  const first = await poll(async () => {
    const s = await sortState();
    return ['ascending', 'descending'].includes(s.aria) && s.aria !== before.aria && s.labels.length === TOTAL ? s : null;
  }, 5000, async () => `after the first click, aria-sort on th[data-column="label"] is ${JSON.stringify((await sortState()).aria)} (before: ${JSON.stringify(before.aria)})`);
  await record(page, `page ${new URL(page.url()).pathname}${new URL(page.url()).search}`);
  await page.click(link);
  const second = await poll(async () => {
    const s = await sortState();
    return ['ascending', 'descending'].includes(s.aria) && s.aria !== first.aria && s.labels.length === TOTAL ? s : null;
  }, 5000, async () => `after the second click, aria-sort is ${JSON.stringify((await sortState()).aria)}, expected it to flip from ${JSON.stringify(first.aria)}`);
  console.log(`     ${first.aria}: ${JSON.stringify(first.labels)}; ${second.aria}: ${JSON.stringify(second.labels)}`);
  expectEqual(second.labels, [...first.labels].reverse(), 'order after the second click (the reverse of the first)');
  const asc = first.aria === 'ascending' ? first.labels : second.labels;
  const key = (s) => s.toLowerCase();
  const sorted = [...asc].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  expectEqual(asc, sorted, 'ascending order of the labels');
  for (const c of COLUMNS.filter((x) => x !== 'label')) {
    const aria = await page.getAttribute(`#credentials th[data-column="${c}"]`, 'aria-sort');
    expect(aria === null || aria === 'none', `th[data-column="${c}"] has aria-sort=${JSON.stringify(aria)} while the list is sorted by label`);
  }
  await visit(page, '/?sort=label&dir=desc');
  expectEqual(labelsOf(await rows(page)), [...sorted].reverse(), 'rows of GET /?sort=label&dir=desc');
  expectEqual(await page.getAttribute('#credentials th[data-column="label"]', 'aria-sort'), 'descending', 'aria-sort of GET /?sort=label&dir=desc');
});

await check('4. the ready/status filters narrow the list (select ready=false + submit → only the failing one)', async () => {
  await visit(page, '/');
  await page.selectOption('#filter-ready', 'false');
  await page.click('#apply-filters');
  await poll(async () => new URL(page.url()).searchParams.get('ready') === 'false', 5000,
    () => `pressing #apply-filters did not GET a URL with ready=false (URL: ${page.url()})`);
  await page.waitForLoadState('load');
  await record(page, `page ${new URL(page.url()).search}`);
  const got = await poll(async () => {
    const rs = await rows(page);
    return rs.length === 1 ? rs : null;
  }, 3000, async () => `ready=false shows ${JSON.stringify(labelsOf(await rows(page)))}, expected [${JSON.stringify(SCENARIO.broken)}]`);
  expectEqual(labelsOf(got), [SCENARIO.broken], 'rows with ready=false');
  expectEqual(await text(page, '#count'), `1 of ${TOTAL} credentials`, '#count with ready=false');
  const kept = await page.$eval('#filter-ready', (s) => s.value);
  if (kept !== 'false') warn(`after submitting ready=false, #filter-ready shows ${JSON.stringify(kept)} instead of "false"`);

  await visit(page, '/?status=inactive');
  expectEqual(labelsOf(await rows(page)), [SCENARIO.inactive], 'rows of GET /?status=inactive');
  await visit(page, '/?status=active');
  expectEqual(labelsOf(await rows(page)).sort(), ALL_LABELS.filter((l) => l !== SCENARIO.inactive).sort(), 'rows of GET /?status=active');
  await visit(page, '/?ready=true');
  const ready = labelsOf(await rows(page));
  expect(ready.includes(SCENARIO.mapped) && ready.includes(SCENARIO.script) && !ready.includes(SCENARIO.broken),
    `GET /?ready=true shows ${JSON.stringify(ready)}; expected ${JSON.stringify(SCENARIO.mapped)} and the <script> label, not ${JSON.stringify(SCENARIO.broken)}`);
  await visit(page, '/?managed=yes');
  expectEqual(labelsOf(await rows(page)).sort(), [...ALL_LABELS].sort(), 'rows of GET /?managed=yes (all are managed)');
  await visit(page, '/?managed=no');
  expect((await text(page, '#empty'))?.startsWith('No credentials match'),
    `GET /?managed=no: #empty is ${JSON.stringify(await text(page, '#empty'))}, expected "No credentials match…"`);
  expectEqual(await text(page, '#count'), `0 of ${TOTAL} credentials`, '#count of GET /?managed=no');
  await visit(page, `/?q=${encodeURIComponent(SCENARIO.broken)}&ready=false`);
  expectEqual(labelsOf(await rows(page)), [SCENARIO.broken], 'rows of GET /?q=<broken label>&ready=false');
});

await check('5. the detail page of the mapped credential shows its fields, mappings and a Ready condition', async () => {
  expect(ids[SCENARIO.mapped], 'no id for the mapped credential (check 1 failed)');
  await visit(page, '/');
  await page.click(`#credentials tr[data-id="${ids[SCENARIO.mapped]}"] td.col-label a`);
  await page.waitForURL(`${BASE}/credentials/${ids[SCENARIO.mapped]}`, { timeout: 5000 });
  await record(page, `page /credentials/${ids[SCENARIO.mapped]}`);
  expectEqual(await text(page, 'h1#title'), SCENARIO.mapped, 'h1#title');
  const f = await fields(page);
  for (const name of FIELDS) expect(name in f, `#fields has no <dt>${name}</dt>; it has ${JSON.stringify(Object.keys(f))}`);
  expectEqual(f.Label, SCENARIO.mapped, 'dd of Label');
  expectEqual(f.Status, 'Active', 'dd of Status');
  expectEqual(f['Default locale'], 'en_US', 'dd of Default locale');
  expectEqual(f['Default currency'], 'USD', 'dd of Default currency');
  expectEqual(f['Access token'], 'set', 'dd of Access token');
  expectEqual(f['Client secret'], 'not set', 'dd of Client secret');
  expect((f['API URL'] || '').includes(SCENARIO.mappedStore), `dd of API URL is ${JSON.stringify(f['API URL'])}`);
  const locales = (await tableRows(page, 'table#locale-mapping')).sort();
  expectEqual(locales, [['en_US', 'en'], ['fr_FR', 'fr']], 'rows of table#locale-mapping');
  expectEqual(await tableRows(page, 'table#currency-mapping'), [['USD', 'USD']], 'rows of table#currency-mapping');
  const conds = await conditions(page);
  const ready = conds.find((c) => c.type === 'Ready');
  expect(ready, `table#conditions has no tr[data-type="Ready"]; types: ${JSON.stringify(conds.map((c) => c.type))}`);
  for (const c of ['status', 'reason', 'message', 'since']) expect(ready[c] !== null, `the Ready row has no td.cond-${c}`);
  expectEqual(ready.status, 'True', 'td.cond-status of the Ready condition');
});

await check('6. the failing credential shows InvalidToken in its row and on its detail page', async () => {
  await visit(page, '/');
  const rs = await rows(page);
  const row = rs.find((r) => r.label === SCENARIO.broken);
  expect(row, `no row labelled ${JSON.stringify(SCENARIO.broken)}`);
  expect(row.reason.includes('InvalidToken'), `td.col-reason of ${JSON.stringify(SCENARIO.broken)} is ${JSON.stringify(row.reason)}, expected InvalidToken`);
  expectEqual(row.ready, 'False', `td.col-ready of ${SCENARIO.broken}`);
  for (const other of rs.filter((r) => r.label !== SCENARIO.broken)) {
    expectEqual(other.reason, '', `td.col-reason of ${JSON.stringify(other.label)}`);
  }
  await visit(page, `/credentials/${row.id}`);
  expectEqual(await text(page, 'h1#title'), SCENARIO.broken, 'h1#title of the failing credential');
  const conds = await conditions(page);
  const ready = conds.find((c) => c.type === 'Ready');
  expect(ready, `no tr[data-type="Ready"] on the failing credential's page; types: ${JSON.stringify(conds.map((c) => c.type))}`);
  expectEqual(ready.status, 'False', 'td.cond-status of Ready on the failing credential');
  expect(conds.some((c) => (c.reason || '').includes('InvalidToken')),
    `no td.cond-reason says InvalidToken on the failing credential's page: ${JSON.stringify(conds)}`);
});

await check('detail pages: the <script> label as h1 text, every row has a page, an unknown id is 404', async () => {
  expect(ids[SCENARIO.script], 'no id for the <script> credential (check 1 failed)');
  await visit(page, `/credentials/${ids[SCENARIO.script]}`);
  expectEqual(await text(page, 'h1#title'), SCENARIO.script, 'h1#title of the <script> credential');
  expectEqual(dialogs, [], 'dialogs opened');
  for (const [label, id] of Object.entries(ids)) {
    const r = await raw(`/credentials/${id}`);
    expect(r.status === 200, `GET /credentials/${id} (${label}): HTTP ${r.status}`);
    expect(!r.body.includes('<script>alert(1)</script>'), `GET /credentials/${id} contains <script>alert(1)</script> unescaped`);
  }
  for (const unknown of ['999999', '0']) {
    const r = await raw(`/credentials/${unknown}`);
    expect(r.status === 404, `GET /credentials/${unknown}: HTTP ${r.status}, expected 404`);
  }
});

await check('9. axe-core: no serious or critical violations on the list and the detail pages', async () => {
  expect(ids[SCENARIO.mapped] && ids[SCENARIO.broken], 'no ids for the mapped and failing credentials (check 1 failed)');
  const failures = [];
  for (const where of ['/', `/credentials/${ids[SCENARIO.mapped]}`, `/credentials/${ids[SCENARIO.broken]}`, '/?q=zzz-no-such']) {
    await visit(page, where);
    try {
      await axe(page, where);
    } catch (e) {
      failures.push(e.message);
    }
  }
  expect(failures.length === 0, failures.join('\n'));
});

await check('10. screenshots at 1280 and 390 px', async () => {
  expect(ids[SCENARIO.mapped], 'no id for the mapped credential (check 1 failed)');
  const shots = [];
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    for (const [name, where] of [['list', '/'], ['detail', `/credentials/${ids[SCENARIO.mapped]}`]]) {
      await visit(page, where);
      const file = path.join(SCREENSHOT_DIR, `${PREFIX}${name}-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      expect(fs.statSync(file).size > 1000, `${file} is (nearly) empty`);
      shots.push(file);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow > 0) warn(`${name} at ${width} px: the page scrolls sideways by ${overflow} px`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  console.log(`     ${shots.join('\n     ')}`);
});

if (MODE === 'watch') {
  await check('7. after a manifest edit, the open list shows the new label within 5 s, without a reload', async () => {
    const { file, from, to } = SCENARIO.rename;
    const manifest = path.join(MANIFEST_DIR, file);
    const original = fs.readFileSync(manifest, 'utf8');
    expect(original.includes(`label: ${from}`), `${manifest} has no "label: ${from}" line`);
    await visit(page, '/');
    const lastPassBefore = await text(page, '#last-pass');
    // The event stream, read alongside, for the leak check.
    const events = new AbortController();
    let stream = '';
    const reading = (async () => {
      try {
        const response = await fetch(`${BASE}/events`, { signal: events.signal, headers: { accept: 'text/event-stream' } });
        const ctype = response.headers.get('content-type') || '';
        if (!ctype.startsWith('text/event-stream')) warn(`GET /events: Content-Type ${JSON.stringify(ctype)}, expected text/event-stream`);
        const decoder = new TextDecoder();
        for await (const chunk of response.body) stream += decoder.decode(chunk, { stream: true });
      } catch (e) {
        if (e.name !== 'AbortError') warn(`reading /events: ${e.message}`);
      }
    })();
    // The page must be listening before the edit: give its EventSource a moment to connect.
    await sleep(500);
    await page.evaluate(() => { window.__bccredsNoNavigation = true; });
    const started = Date.now();
    try {
      fs.writeFileSync(manifest, original.replace(`label: ${from}`, `label: ${to}`));
      await poll(async () => labelsOf(await rows(page)).includes(to), 5000,
        async () => `the open list did not show ${JSON.stringify(to)} within 5 s of the edit; rows: ${JSON.stringify(labelsOf(await rows(page)))}; #last-pass: ${JSON.stringify(await text(page, '#last-pass'))}`);
      console.log(`     the new label showed ${Date.now() - started} ms after the edit`);
      expect(!labelsOf(await rows(page)).includes(from), `the old label ${JSON.stringify(from)} is still listed`);
      expect(await page.evaluate(() => window.__bccredsNoNavigation === true), 'the page reloaded itself (a full navigation) instead of updating #results');
      expectEqual(await text(page, '#count'), `${TOTAL} of ${TOTAL} credentials`, '#count after the live update');
      await poll(async () => (await text(page, '#last-pass')) !== lastPassBefore, 3000,
        () => `#last-pass did not change after the pass (still ${JSON.stringify(lastPassBefore)})`);
      await record(page, 'page / after the live update');
    } finally {
      await sleep(300);
      events.abort();
      await reading;
      seen.push(['GET /events (stream)', stream]);
      if (!/^(data|event):/m.test(stream)) warn(`GET /events carried no event while the pass ran: ${JSON.stringify(stream.slice(0, 200))}`);
    }
  });
}

await check('8. no secret value appears in any page, fragment or response', async () => {
  // Raw copies of every page, besides the documents recorded on the way.
  await raw('/');
  await raw('/?sort=label&dir=asc');
  for (const id of Object.values(ids)) await raw(`/credentials/${id}`);
  const again = await rows(page).catch(() => []);
  for (const r of again) await raw(`/credentials/${r.id}`);
  expect(LEAK_TOKENS.length > 0, 'LEAK_TOKENS is empty');
  const leaks = [];
  for (const [where, body] of seen) {
    for (const token of LEAK_TOKENS) if (body.includes(token)) leaks.push(`${token} in ${where}`);
  }
  console.log(`     ${seen.length} documents and responses searched for ${LEAK_TOKENS.length} secrets`);
  expectEqual(leaks, [], 'secret values found');
});

await check('the browser reported no uncaught error, CSP violation, failed asset or dialog', async () => {
  expectEqual(browserProblems, [], 'browser problems');
  expectEqual(dialogs, [], 'dialogs opened');
});

await context.close();
fs.rmSync(profile, { recursive: true, force: true });

const failed = results.filter((r) => !r.ok);
console.log(`\n${MODE}: ${results.length - failed.length} passed, ${failed.length} failed, ${warnings.length} warnings`);
for (const f of failed) console.log(`  FAILED: ${f.name}`);
process.exit(failed.length === 0 ? 0 : 1);
