// Runs graphql-http's server audits (GraphQL over HTTP) against URL, prints each failure and
// the counts per level, and exits 1 when a MUST or a SHOULD fails (MAY failures are reported).
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}
const counts = {};
let failed = 0;
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const level = result.name.split(' ')[0];
  counts[level] ??= { passed: 0, total: 0 };
  counts[level].total += 1;
  if (result.status === 'ok') {
    counts[level].passed += 1;
    continue;
  }
  const status = result.response ? ` (HTTP ${result.response.status})` : '';
  console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}${status}`);
  if (level === 'MUST' || level === 'SHOULD') failed += 1;
}
for (const level of ['MUST', 'SHOULD', 'MAY']) {
  const { passed = 0, total = 0 } = counts[level] ?? {};
  console.log(`${level}: ${passed}/${total}`);
}
const all = Object.values(counts).reduce(
  (sum, c) => ({ passed: sum.passed + c.passed, failed: sum.failed + c.total - c.passed }),
  { passed: 0, failed: 0 },
);
// The plain closing line CI reads.
console.log(`graphql-http: ${all.passed} passed, ${all.failed} failed`);
process.exit(failed > 0 ? 1 : 0);
