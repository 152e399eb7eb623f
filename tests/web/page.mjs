// Browser test of agentrail's incident page, driven through Debian's Chromium.
//
//   node tests/web/page.mjs BASE_URL CORRELATION_ID SCREENSHOT_PATH [TOKEN]
//
// Opens the page (signing in with TOKEN when given), searches for the
// correlation id, opens its replay, expands the first destructive event,
// presses "Copy SQL", takes a full-page screenshot, and prints one JSON object
// describing what the DOM shows. Exit 0 on success; non-zero with a message on
// stderr when a step times out or the page logged an error (a CSP violation
// shows up as a console error).
import { chromium } from 'playwright-core';

const STEP_TIMEOUT = 15_000;
const [baseUrl, correlationId, screenshotPath, token] = process.argv.slice(2);
if (!baseUrl || !correlationId || !screenshotPath) {
  console.error('usage: node page.mjs BASE_URL CORRELATION_ID SCREENSHOT_PATH [TOKEN]');
  process.exit(2);
}

// Attribute selectors quote their value as a CSS string.
const cssString = (value) => JSON.stringify(String(value));
const byTestId = (id) => `[data-testid=${cssString(id)}]`;

async function run() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(STEP_TIMEOUT);
    currentPage = page;
    page.on('pageerror', (error) => errors.push('pageerror: ' + error.message));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const where = (message.location() && message.location().url) || '';
      // Chromium logs every 4xx answer as a failed resource load. The page
      // handles those of the read API itself (the 401 before signing in, a
      // query it retries quoted); any other failed load is an error.
      if (/^Failed to load resource/.test(message.text()) && new URL(where, baseUrl).pathname.startsWith('/api/')) return;
      errors.push('console: ' + message.text() + (where ? ' (' + where + ')' : ''));
    });

    await step('open the page', () => page.goto(baseUrl.replace(/\/$/, '') + '/', { waitUntil: 'domcontentloaded' }));
    if (token) {
      await step('sign in with the token', async () => {
        await page.locator(byTestId('token-input')).fill(token);
        await page.locator(byTestId('token-submit')).click();
      });
    }
    // The start view's findings panel, once its report has loaded.
    const findings = await step('load the findings', async () => {
      await page.locator(`${byTestId('findings')}[data-state="done"]`).waitFor();
      return page.locator(byTestId('finding')).count();
    });

    await step('search for the correlation id', async () => {
      await page.locator(byTestId('search-input')).fill(correlationId);
      await page.locator(byTestId('search-button')).click();
    });
    const resultRow = page.locator(`${byTestId('result')}[data-correlation-id=${cssString(correlationId)}]`).first();
    await step('wait for a matching result', () => resultRow.waitFor());
    const results = await page.locator(byTestId('result')).count();
    await step('open the replay', () => resultRow.locator(byTestId('open-replay')).click());

    const replay = page.locator(`${byTestId('replay')}[data-correlation-id=${cssString(correlationId)}]`);
    await step('wait for the replay', () => replay.waitFor());
    const events = replay.locator(byTestId('event'));
    await step('wait for the events', () => events.first().waitFor());
    const destructive = replay.locator(`${byTestId('event')}.destructive`);
    const target = (await destructive.count()) > 0 ? destructive.first() : events.first();
    const details = replay.locator(byTestId('event-details'));
    await step('expand an event', async () => {
      await target.click();
      await details.first().waitFor();
    });
    await step('copy the SQL', async () => {
      await replay.locator(byTestId('copy-sql')).click();
      await replay.locator(byTestId('sql')).waitFor();
    });
    await step('take the screenshot', () => page.screenshot({ path: screenshotPath, fullPage: true }));

    // What the DOM shows, read in one go.
    const shown = await replay.evaluate((root) => {
      const all = (selector) => [...root.querySelectorAll(selector)];
      const attr = (name) => (node) => node.getAttribute(name);
      const rows = all('[data-testid="event"]');
      const details = root.querySelector('[data-testid="event-details"]');
      // The event_id row of the expanded details' fields table.
      const idRow = details && [...details.querySelectorAll('tr')]
        .find((tr) => tr.firstElementChild && tr.firstElementChild.textContent.trim() === 'event_id');
      const raw = details && details.querySelector('[data-testid="raw"]');
      const sql = root.querySelector('[data-testid="sql"]');
      return {
        lanes: all('[data-testid="lane"]').map(attr('data-source')),
        events: rows.map(attr('data-event-id')),
        destructive: rows.filter((row) => row.classList.contains('destructive')).map(attr('data-event-id')),
        unapproved: rows.filter((row) => row.classList.contains('unapproved')).map(attr('data-event-id')),
        delegates: all('[data-testid="delegate"]').map(attr('data-name')),
        details_event_id: idRow ? idRow.lastElementChild.textContent : null,
        raw_text: raw ? raw.textContent.slice(0, 200) : null,
        sql: sql ? sql.textContent : null,
      };
    });
    // Let late errors (a CSP report, an unhandled rejection) surface.
    await page.waitForTimeout(200);
    const answer = {
      correlation_id: await replay.getAttribute('data-correlation-id'),
      results,
      lanes: shown.lanes,
      events: shown.events,
      destructive: shown.destructive,
      unapproved: shown.unapproved,
      delegates: shown.delegates,
      details_event_id: shown.details_event_id,
      raw_text: shown.raw_text,
      sql: shown.sql,
      findings,
      errors,
    };
    console.log(JSON.stringify(answer, null, 2));
    if (errors.length) {
      console.error('page errors:\n  ' + errors.join('\n  '));
      return 1;
    }
    return 0;
  } finally {
    await browser.close();
  }
}

// The page being driven, so a failed step can say what it showed.
let currentPage = null;

// Runs one step, naming it in the error when it fails or times out, with the
// page's error banner and whether it was asking for a token.
async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    let seen = '';
    if (currentPage) {
      const banner = await currentPage.locator(byTestId('error')).textContent({ timeout: 1000 }).catch(() => null);
      const asking = await currentPage.locator(byTestId('token-input')).isVisible().catch(() => false);
      if (banner) seen += `\n  error banner: ${banner}`;
      if (asking) seen += '\n  the page is asking for a token';
    }
    throw new Error(`step "${name}" failed: ${error.message.split('\n')[0]}${seen}`);
  }
}

run().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error.message);
    process.exit(1);
  },
);
