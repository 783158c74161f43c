// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// The live report in headless Chromium, driven by Playwright (npm playwright-core, Debian's
// chromium), for tests/integration/test_views_api.py. It opens URL, follows the range links,
// waits for the page to reload itself, and prints one JSON object of what it saw.
//
// Usage: node live_report.js CHROMIUM URL SCREENSHOT, with the endpoint's user and password
// in HTTP_USER and HTTP_PASSWORD (never on a command line): answered to its Basic challenge.
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [executablePath, url, screenshot] = process.argv.slice(2);
  const origin = new URL(url).origin;
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const out = { requests: [], console: [], ranges: [], reloaded: false, bubbles: {} };
  try {
    const context = await browser.newContext({
      viewport: { width: 1400, height: 2600 },
      httpCredentials: { username: process.env.HTTP_USER || '', password: process.env.HTTP_PASSWORD || '' },
    });
    const page = await context.newPage();
    page.on('request', (r) => out.requests.push(r.url()));
    page.on('console', (m) => out.console.push(m.text()));
    page.on('pageerror', (e) => out.console.push(String(e)));
    await page.goto(url);
    out.title = await page.title();
    out.sections = await page.$$eval('main section', (s) => s.map((e) => e.id));
    // the bubbles of the map: each country's code and where it is drawn, in degrees
    out.bubbles = await page.$$eval('#region_map circle.bubble', (cs) => Object.fromEntries(
      cs.map((c) => [c.querySelector('title').textContent.match(/\((\w+)\)/)[1],
                     [90 - Number(c.getAttribute('cy')) / (1200 / 360),
                      Number(c.getAttribute('cx')) / (1200 / 360) - 180]])));
    await page.screenshot({ path: screenshot, fullPage: false });
    // every range link, clicked: the page it leads to marks it current
    const labels = await page.$$eval('nav.ranges a', (as) => as.map((a) => a.textContent));
    for (const label of labels) {
      await Promise.all([page.waitForNavigation(), page.click(`nav.ranges a:text-is("${label}")`)]);
      const current = await page.$eval('nav.ranges a.current', (a) => a.textContent);
      out.ranges.push([label, current, new URL(page.url()).search]);
    }
    // the page reloads itself (meta refresh): wait for one more load of the same URL
    const before = out.requests.length;
    const refresh = await page.$eval('meta[http-equiv="refresh"]', (m) => Number(m.content));
    await page.waitForEvent('load', { timeout: (refresh + 15) * 1000 });
    out.reloaded = out.requests.slice(before).some((u) => u.startsWith(origin + '/report'));
    out.refresh = refresh;
  } finally {
    await browser.close();
  }
  out.outside = out.requests.filter((u) => !u.startsWith(origin + '/'));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`live_report.js: ${e.stack || e}\n`);
  process.exit(1);
});
