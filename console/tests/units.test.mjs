// Table-driven tests of the console's pure functions (filter text, completion, error location,
// URL state, layout). esbuild bundles the TypeScript modules to a temporary ESM file first.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
let out;
let m;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'netwarden-console-'));
  const entry = [
    "export * from './filter/text';",
    "export * from './filter/completion';",
    "export * from './filter/error-token';",
    "export * from './state/state';",
    "export * from './views/topology/layout';",
    "export * from './views/topology/filters';",
    "export * from './util/format';",
    "export * from './util/time-range';",
  ].join('\n');
  await build({
    stdin: { contents: entry, resolveDir: SRC, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    outfile: join(out, 'units.mjs'),
    logLevel: 'warning',
  });
  m = await import(pathToFileURL(join(out, 'units.mjs')).href);
});

after(() => rm(out, { recursive: true, force: true }));

test('equals and and() build filter text', () => {
  const cases = [
    [m.equals('SrcK8S_Namespace', 'iperf'), 'SrcK8S_Namespace="iperf"'],
    [m.equals('DstPort', 5201), 'DstPort=5201'],
    [m.equals('SrcAddr', '10.0.0.0/8', 'addr'), 'SrcAddr=10.0.0.0/8'],
    [m.equals('DnsName', 'a"b\\c'), 'DnsName="a\\"b\\\\c"'],
    [m.and('', 'A=1'), 'A=1'],
    [m.and('A=1', 'B=2'), 'A=1 AND B=2'],
    [m.and('A=1 OR B=2', 'C=3'), '(A=1 OR B=2) AND C=3'],
    [m.and('(A=1 OR B=2)', 'C=3'), '(A=1 OR B=2) AND C=3'],
    [m.and('(A=1) OR (B=2)', 'C=3'), '((A=1) OR (B=2)) AND C=3'],
    [m.or('A=1 AND B=2', 'C=3'), '(A=1 AND B=2) OR C=3'],
  ];
  for (const [actual, expected] of cases) assert.equal(actual, expected);
});

test('toggleClause adds and removes a chip clause', () => {
  const cases = [
    ['', 'Proto=6', 'Proto=6'],
    ['Proto=6', 'Proto=6', ''],
    ['DstPort=53', 'Proto=6', 'DstPort=53 AND Proto=6'],
    ['DstPort=53 AND Proto=6', 'Proto=6', 'DstPort=53'],
    ['Proto=6 AND DstPort=53', 'Proto=6', 'DstPort=53'],
    ['A=1 AND Proto=6 AND B=2', 'Proto=6', 'A=1 AND B=2'],
  ];
  for (const [filter, clause, expected] of cases) assert.equal(m.toggleClause(filter, clause), expected, filter);
});

test('completionContext finds the token under the caret', () => {
  const cases = [
    ['Dst', 3, { kind: 'field', prefix: 'Dst', start: 0, end: 3 }],
    ['A=1 AND Src', 11, { kind: 'field', prefix: 'Src', start: 8, end: 11 }],
    ['(Src', 4, { kind: 'field', prefix: 'Src', start: 1, end: 4 }],
    ['DstPort=52', 10, { kind: 'value', field: 'DstPort', operator: '=', prefix: '52', start: 8, end: 10 }],
    ['SrcK8S_Namespace="ip', 20, { kind: 'value', field: 'SrcK8S_Namespace', operator: '=', prefix: 'ip', start: 17, end: 20 }],
    ['SrcK8S_Namespace="ip" AND X=1', 20, { kind: 'value', field: 'SrcK8S_Namespace', operator: '=', prefix: 'ip', start: 17, end: 21 }],
    ['NetworkEvents=~"Dropped by', 26, { kind: 'value', field: 'NetworkEvents', operator: '=~', prefix: 'Dropped by', start: 15, end: 26 }],
    ['DstPort=5201 ', 13, null],
    ['', 0, null],
  ];
  for (const [text, caret, expected] of cases) assert.deepEqual(m.completionContext(text, caret), expected, text);
  const ctx = m.completionContext('A=1 AND Dst', 11);
  assert.deepEqual(m.applyCompletion('A=1 AND Dst', ctx, 'DstPort='), { text: 'A=1 AND DstPort=', caret: 16 });
});

test('locateErrorToken marks the token the server names', () => {
  const cases = [
    ['Proto=6 AND Dstport=5201', 'at 12 ("Dstport"): unknown field; did you mean DstPort?', 12, [12, 19]],
    // Token given, position absent or off: found by text.
    ['Proto=6 AND Dstport=5201', 'at 99 ("Dstport"): unknown field', null, [12, 19]],
    // The same token twice: the occurrence nearest the position.
    ['Foo=1 OR Foo=2', 'at 9 ("Foo"): unknown field', 9, [9, 12]],
    // A Rust server's UTF-8 byte offset after a non-ASCII character ("é" is 2 bytes).
    ['DnsName="é" AND Bad=1', 'at 17 ("Bad"): unknown field', 17, [16, 19]],
    // No token quoted: the word at the position.
    ['DstPort=5201 AND Bogus=1', 'at 17: unknown field', 17, [17, 22]],
    // Missing input at the end: an empty range there.
    ['DstPort=', 'at 8 (""): unexpected end of filter', 8, [8, 8]],
  ];
  for (const [filter, message, position, [start, end]] of cases) {
    assert.deepEqual(m.locateErrorToken(filter, message, position), { start, end }, message);
  }
  assert.equal(m.locateErrorToken('x', 'bad', null), null);
});

test('URL state round-trips and leaves defaults out', () => {
  assert.equal(m.serializeState(m.DEFAULT_STATE), '');
  const state = { ...m.DEFAULT_STATE, tab: 'topology', filter: 'DstPort=5201', level: 'owner', offset: 100 };
  const text = m.serializeState(state);
  assert.equal(text, '?tab=topology&filter=DstPort%3D5201&offset=100&level=owner');
  assert.deepEqual(m.parseState(text), state);
  // Malformed values fall back to defaults.
  const odd = m.parseState('?tab=nope&limit=-3&sort=Bytes;drop&level=galaxy&verdict=MAYBE');
  assert.equal(odd.tab, 'flows');
  assert.equal(odd.limit, 100);
  assert.deepEqual(odd.sort, m.DEFAULT_STATE.sort);
  assert.equal(odd.level, 'namespace');
  assert.equal(odd.verdict, '');
});

test('the force layout is deterministic and stays inside the canvas', () => {
  const links = [[0, 1], [1, 2], [2, 0], [3, 4], [4, 4]];
  const options = { width: 1000, height: 640, margin: 70 };
  const first = m.forceLayout(6, links, options);
  assert.deepEqual(m.forceLayout(6, links, options), first);
  for (const p of first) {
    assert.ok(p.x >= 69 && p.x <= 931 && p.y >= 69 && p.y <= 571, JSON.stringify(p));
  }
  assert.deepEqual(m.forceLayout(1, [], options), [{ x: 500, y: 320 }]);
});

test('topology nodes and edges become flow filters', () => {
  const node = (id, kind, label) => ({ id, kind, label });
  const cases = [
    [m.nodeFilter(node('ns/iperf', 'namespace', 'iperf')), 'K8S_Namespace="iperf"'],
    [
      m.nodeFilter(node('owner/iperf/iperf3-server', 'owner', 'iperf3-server')),
      '(SrcK8S_Namespace="iperf" AND SrcK8S_OwnerName="iperf3-server") OR (DstK8S_Namespace="iperf" AND DstK8S_OwnerName="iperf3-server")',
    ],
    [m.nodeFilter(node('node/worker-1', 'node', 'worker-1')), 'SrcK8S_HostName="worker-1" OR DstK8S_HostName="worker-1"'],
    [m.nodeFilter(node('addr/1.1.1.1', 'external', '1.1.1.1')), 'SrcAddr=1.1.1.1 OR DstAddr=1.1.1.1'],
    [
      m.edgeFilter(node('ns/default', 'namespace', 'default'), node('pod/iperf/p-1', 'pod', 'p-1')),
      'SrcK8S_Namespace="default" AND DstK8S_Namespace="iperf" AND DstK8S_Name="p-1"',
    ],
    [m.nodeFilter(node('mystery', 'cloud', 'x')), null],
  ];
  for (const [actual, expected] of cases) assert.equal(actual, expected);
});

test('formatting', () => {
  const cases = [
    [m.formatBytes(0), '0 B'],
    [m.formatBytes(960), '960 B'],
    [m.formatBytes(1250), '1.3 KB'],
    [m.formatBytes(3_400_000), '3.4 MB'],
    [m.protoName(6), 'TCP'],
    [m.protoName(17), 'UDP'],
    [m.protoName(1), 'ICMP'],
    [m.protoName(58), 'ICMPv6'],
    [m.protoName(132), 'SCTP'],
    [m.protoName(47), '47'],
    [m.formatNanos(182_000), '182 µs'],
    [m.shortDropCause('SKB_DROP_REASON_NO_SOCKET'), 'NO_SOCKET'],
    [m.chartStepSeconds(15 * 60_000), 30],
    [m.chartStepSeconds(24 * 3_600_000), 1800],
    [m.resolveInstant('15m', 1_000_000_000), 1_000_000_000 - 900_000],
    [m.resolveInstant('2024-05-01T10:00:00Z', 0), Date.UTC(2024, 4, 1, 10)],
    [m.resolveInstant('1714557600000', 0), 1714557600000],
  ];
  for (const [actual, expected] of cases) assert.equal(actual, expected);
});
