// Browser tests of the console: what a user sees, in headless Chromium.
//
//   npm test                                   (builds, starts the mock API on a free port)
//   NETWARDEN_CONSOLE_URL=http://127.0.0.1:9090 node --test tests/   (a running netwarden server)
//
// Against the mock, counts are exact (computed from dev/fixtures.mjs); against a real server the
// tests check the same behaviour with relative counts. Screenshots go to test-artifacts/.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { POLICY_DROP_MESSAGE, fixtureFlows } from '../dev/fixtures.mjs';
import { startMockServer } from '../dev/mock-server.mjs';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const EXTERNAL = process.env.NETWARDEN_CONSOLE_URL;
const EXACT = !EXTERNAL;
const WAIT = { timeout: 10_000 };

let base;
let mock;
let browser;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  if (EXTERNAL) {
    base = EXTERNAL.replace(/\/$/, '');
  } else {
    mock = await startMockServer();
    base = mock.url;
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
});

after(async () => {
  await browser?.close();
  await mock?.close();
});

/** Fixture flows in the default 15-minute range that satisfy `predicate`. */
function fixtureCount(predicate = () => true) {
  const now = Date.now();
  return fixtureFlows(now).filter((f) => f.TimeFlowEndMs >= now - 15 * 60_000 && predicate(f)).length;
}

/** A fresh page that fails the test on an uncaught error or a Content-Security-Policy violation. */
async function openPage(t, path = '/') {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(WAIT.timeout);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) errors.push(message.text());
  });
  t.after(async () => {
    await page.close();
    assert.deepEqual(errors, [], 'uncaught errors in the page');
  });
  await page.goto(`${base}${path}`);
  return page;
}

const rows = (page) => page.locator('[data-testid="flow-row"]');

async function waitForRowCount(page, expected) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="flow-row"]').length === n,
    expected,
    WAIT,
  );
}

async function applyFilter(page, text) {
  const input = page.getByTestId('filter-input');
  await input.fill(text);
  await input.press('Enter');
}

async function screenshot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('the flows table shows rows, with the policy drop in Network Events', async (t) => {
  const page = await openPage(t);
  await rows(page).first().waitFor(WAIT);
  if (EXACT) await waitForRowCount(page, fixtureCount());
  else assert.ok((await rows(page).count()) > 0);

  const dropCell = page.getByTestId('flow-events').filter({ hasText: POLICY_DROP_MESSAGE }).first();
  await dropCell.waitFor(WAIT);
  // The drop is marked as one, not only coloured.
  const dropLine = dropCell.locator('.event-drop', { hasText: POLICY_DROP_MESSAGE });
  assert.equal(await dropLine.count(), 1);
  assert.match(await dropLine.innerText(), /DROP/);
  assert.equal(await page.getByTestId('tab-flows').getAttribute('aria-selected'), 'true');
  await screenshot(page, 'flows');
});

test('a filter narrows the rows, the URL keeps it across reload, Back undoes it', async (t) => {
  const page = await openPage(t);
  await rows(page).first().waitFor(WAIT);
  const before = await rows(page).count();

  await applyFilter(page, 'DstPort=5201');
  if (EXACT) {
    await waitForRowCount(page, fixtureCount((f) => f.DstPort === 5201));
  } else {
    await page.waitForURL(/filter=/, WAIT);
    await page.waitForLoadState('networkidle');
  }
  const narrowed = await rows(page).count();
  assert.ok(narrowed > 0 && narrowed < before, `${narrowed} rows of ${before}`);
  for (const cell of await page.locator('[data-testid="flow-row"] td:nth-child(4)').allInnerTexts()) {
    assert.equal(cell.trim(), '5201');
  }
  assert.equal(new URL(page.url()).searchParams.get('filter'), 'DstPort=5201');

  await page.reload();
  await waitForRowCount(page, narrowed);
  assert.equal(await page.getByTestId('filter-input').inputValue(), 'DstPort=5201');
  await screenshot(page, 'flows-filtered');

  await page.goBack();
  await waitForRowCount(page, before);
  assert.equal(await page.getByTestId('filter-input').inputValue(), '');
});

test('a bad filter shows the error next to the box, pointing at the token', async (t) => {
  const page = await openPage(t);
  await rows(page).first().waitFor(WAIT);
  await applyFilter(page, 'Proto=6 AND Dstprt=5201');

  const error = page.getByTestId('filter-error');
  await error.waitFor({ state: 'visible', ...WAIT });
  assert.match(await error.innerText(), /unknown field/);
  if (EXACT) assert.match(await error.innerText(), /did you mean DstPort\?/);
  assert.equal(await page.getByTestId('filter-error-token').innerText(), 'Dstprt');
  assert.equal(await page.getByTestId('filter-input').getAttribute('aria-invalid'), 'true');
  assert.equal(await rows(page).count(), 0);
  await screenshot(page, 'filter-error');

  // Fixing it clears the error.
  await applyFilter(page, 'Proto=6 AND DstPort=5201');
  await error.waitFor({ state: 'hidden', ...WAIT });
  await rows(page).first().waitFor(WAIT);
});

test('completion offers field names, then values; Enter applies', async (t) => {
  const page = await openPage(t);
  await rows(page).first().waitFor(WAIT);
  const input = page.getByTestId('filter-input');
  await input.click();
  await input.pressSequentially('DstK8S_Nam');
  const options = page.locator('#filter-suggestions [role="option"]');
  await options.filter({ hasText: /^DstK8S_Namespace$/ }).waitFor(WAIT);
  await input.press('Tab');
  assert.equal(await input.inputValue(), 'DstK8S_Namespace=');

  // Values of the field come from /api/values.
  await options.filter({ hasText: /^iperf$/ }).waitFor(WAIT);
  await input.pressSequentially('ip');
  await options.filter({ hasText: /^iperf$/ }).waitFor(WAIT);
  await input.press('ArrowDown');
  await input.press('Enter');
  assert.equal(await input.inputValue(), 'DstK8S_Namespace="iperf"');
  await screenshot(page, 'completion');
  await input.press('Enter');
  if (EXACT) await waitForRowCount(page, fixtureCount((f) => f.DstK8S_Namespace === 'iperf'));
  else await page.waitForURL(/filter=DstK8S_Namespace/, WAIT);
});

test('the details panel lists every field; clicking a value adds it to the filter', async (t) => {
  const page = await openPage(t);
  const dropRow = rows(page).filter({ hasText: POLICY_DROP_MESSAGE }).first();
  await dropRow.click(WAIT);
  const panel = page.getByTestId('flow-details');
  await panel.waitFor({ state: 'visible', ...WAIT });
  const text = await panel.innerText();
  for (const field of ['TimeFlowEndMs', 'SrcAddr', 'DstPort', 'Proto', 'PktDropLatestDropCause']) {
    assert.match(text, new RegExp(field));
  }
  assert.match(text, new RegExp(POLICY_DROP_MESSAGE));
  await screenshot(page, 'details');

  const srcNamespace = await panel.locator('td[data-field="SrcK8S_Namespace"] button').innerText();
  await panel.locator('td[data-field="SrcK8S_Namespace"] button').click();
  assert.equal(await page.getByTestId('filter-input').inputValue(), `SrcK8S_Namespace="${srcNamespace}"`);
  if (EXACT) await waitForRowCount(page, fixtureCount((f) => f.SrcK8S_Namespace === srcNamespace));
});

test('quick filter chips toggle a clause', async (t) => {
  const page = await openPage(t);
  await rows(page).first().waitFor(WAIT);
  const chip = page.getByTestId('quick-filter').filter({ hasText: 'Policy drops' });
  await chip.click();
  assert.equal(await page.getByTestId('filter-input').inputValue(), 'NetworkEvents=~"Dropped"');
  assert.equal(await chip.getAttribute('aria-pressed'), 'true');
  if (EXACT) {
    await waitForRowCount(
      page,
      fixtureCount((f) => (f.NetworkEvents ?? []).some((e) => e.Message.includes('Dropped'))),
    );
  }
  await chip.click();
  assert.equal(await page.getByTestId('filter-input').inputValue(), '');
});

test('topology draws nodes and edges; clicking a node shows its flows', async (t) => {
  const page = await openPage(t);
  await page.getByTestId('tab-topology').click();
  const graph = page.getByTestId('topology-graph');
  await graph.waitFor(WAIT);
  const nodes = page.getByTestId('topology-node');
  const edges = page.getByTestId('topology-edge');
  if (EXACT) {
    // Namespaces iperf, default, kube-system, plus node worker-1 (host network) and 1.1.1.1.
    assert.equal(await nodes.count(), 5);
    // iperf→iperf, default→iperf, iperf→kube-system, kube-system→iperf, kube-system→default,
    // kube-system→1.1.1.1, iperf→1.1.1.1, worker-1→default, worker-1→iperf.
    assert.equal(await edges.count(), 9);
    // Red: the kernel drop inside iperf, the policy drops default→iperf and iperf→1.1.1.1.
    assert.equal(await page.locator('[data-testid="topology-edge"].edge-drop').count(), 3);
  } else {
    assert.ok((await nodes.count()) > 0);
    assert.ok((await edges.count()) > 0);
  }
  assert.equal(new URL(page.url()).searchParams.get('tab'), 'topology');
  await screenshot(page, 'topology');

  await page.getByTestId('topology-level').selectOption('owner');
  await page.waitForURL(/level=owner/, WAIT);
  await page.locator('[data-testid="topology-node"][data-id^="owner/"]').first().waitFor(WAIT);
  await screenshot(page, 'topology-owner');
  await page.goBack();
  await page.locator('[data-testid="topology-node"][data-id="ns/default"]').waitFor(WAIT);

  if (EXACT) {
    await page.locator('[data-testid="topology-node"][data-id="ns/default"]').click();
    await rows(page).first().waitFor(WAIT);
    assert.equal(await page.getByTestId('filter-input').inputValue(), 'K8S_Namespace="default"');
    await waitForRowCount(
      page,
      fixtureCount((f) => f.SrcK8S_Namespace === 'default' || f.DstK8S_Namespace === 'default'),
    );
  }
});

test('overview panels render', async (t) => {
  const page = await openPage(t, '/?tab=overview');
  const panel = (id) => page.getByTestId(`panel-${id}`);
  await panel('rate').getByTestId('series-chart').waitFor(WAIT);
  assert.ok((await page.getByTestId('series-line').count()) > 0);
  for (const id of ['top-talkers', 'top-clients', 'top-servers', 'services']) {
    await panel(id).getByTestId('overview-row').first().waitFor(WAIT);
  }
  if (EXACT) {
    await panel('drop-causes').getByText('NETWORK_POLICY_DENIED').waitFor(WAIT);
    await panel('denying-policies').getByText(POLICY_DROP_MESSAGE).waitFor(WAIT);
    await panel('services').getByText('kube-system/kube-dns').waitFor(WAIT);
    await panel('top-talkers').getByText('iperf/iperf3-client').first().waitFor(WAIT);
  }
  await screenshot(page, 'overview');
});

test('firewall rules and drops, pod monitor events with filters', async (t) => {
  const page = await openPage(t, '/?tab=firewall');
  const rules = page.getByTestId('firewall-rule');
  const unavailable = page.getByTestId('status-unavailable');
  await Promise.race([rules.first().waitFor(WAIT), unavailable.first().waitFor(WAIT)]);
  if (EXACT) {
    assert.equal(await rules.count(), 4);
    await page.getByTestId('firewall-event').first().waitFor(WAIT);
    assert.equal(await page.getByTestId('firewall-event').count(), 4);
  }
  await screenshot(page, 'firewall');

  await page.getByTestId('tab-podmonitor').click();
  const podRows = page.getByTestId('podmonitor-row');
  await Promise.race([podRows.first().waitFor(WAIT), unavailable.first().waitFor(WAIT)]);
  if (EXACT) {
    assert.equal(await podRows.count(), 5);
    await page.getByTestId('pm-verdict').selectOption('BLOCKED');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="podmonitor-row"]').length === 2, null, WAIT);
    assert.equal(new URL(page.url()).searchParams.get('verdict'), 'BLOCKED');
    assert.match(await page.getByTestId('podmonitor-events').first().innerText(), /Dropped by network polic/);
  }
  await screenshot(page, 'podmonitor');
});

test('a server without the firewall shows an empty state, not a broken page', { skip: !EXACT && 'needs the mock' }, async (t) => {
  const bare = await startMockServer({ disable: ['firewall', 'podmonitor'] });
  t.after(() => bare.close());
  const page = await browser.newPage();
  t.after(() => page.close());
  await page.goto(`${bare.url}/?tab=firewall`);
  await page.getByTestId('status-unavailable').first().waitFor(WAIT);
  assert.match(await page.getByTestId('status-unavailable').first().innerText(), /No node firewall on this server/);
  assert.equal(await page.locator('[data-testid="status-error"]').count(), 0);
  await page.getByTestId('tab-podmonitor').click();
  await page.getByTestId('status-unavailable').first().waitFor(WAIT);
  await screenshot(page, 'firewall-disabled');
});

test('time range, sorting, paging and the column chooser live in the URL', async (t) => {
  const page = await openPage(t);
  await rows(page).first().waitFor(WAIT);

  // A wider range brings in the fixture flow from 40 minutes ago.
  await page.getByTestId('time-range').selectOption('1h');
  await page.waitForURL(/since=1h/, WAIT);
  if (EXACT) await waitForRowCount(page, fixtureCount() + 1);

  // Custom: RFC 3339 in the URL.
  await page.getByTestId('time-range').selectOption('custom');
  await page.getByTestId('time-from').fill('2024-05-01T10:00');
  await page.getByTestId('time-until').fill('2024-05-01T11:00');
  await page.getByTestId('time-apply').click();
  await page.waitForURL(/since=2024-05-01T\d\d%3A00%3A00Z&until=2024-05-01T\d\d%3A00%3A00Z/, WAIT);
  // Nothing was captured back then.
  await page.getByTestId('status-empty').waitFor(WAIT);
  await page.goBack();
  await page.waitForURL((url) => url.searchParams.get('since') === '1h', WAIT);

  // Sort by bytes: largest first.
  await page.getByRole('button', { name: 'Sort by Bytes' }).click();
  await page.waitForURL(/sort=Bytes%3Adesc/, WAIT);
  await page.locator('th[aria-sort="descending"]', { hasText: 'Bytes' }).waitFor(WAIT);
  if (EXACT) await page.locator('[data-testid="flow-row"]').first().filter({ hasText: '1.3 GB' }).waitFor(WAIT);

  // Paging.
  await page.getByLabel('Rows per page').selectOption('50');
  await page.waitForURL(/limit=50/, WAIT);

  // Columns: add the source port, drop the protocol.
  await page.locator('.column-chooser summary').click();
  await page.locator('input[data-column="srcPort"]').check();
  await page.locator('input[data-column="proto"]').uncheck();
  await page.waitForURL((url) => (url.searchParams.get('cols') ?? '').includes('srcPort'), WAIT);
  const headers = await page.locator('table.flows thead th').allInnerTexts();
  assert.ok(headers.some((h) => h.includes('Src port')));
  assert.ok(!headers.some((h) => h.includes('Protocol')));
  await page.reload();
  await rows(page).first().waitFor(WAIT);
  assert.ok((await page.locator('table.flows thead th').allInnerTexts()).some((h) => h.includes('Src port')));
});
