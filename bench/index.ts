/**
 * `npm run bench [-- name…]`: runs the benchmarks and prints medians, p95s and ratios. Timing goals live here,
 * never in the test suite.
 */
import { executeOverheadBench } from './execute-overhead.js';
import { guardsBench } from './guards.js';
import { healthScaleBench } from './health-scale.js';
import { listConnectorsBench } from './list-connectors.js';
import { mcpBench } from './mcp.js';
import { rotationBench } from './rotation.js';
import { soakBench } from './soak.js';

const benches: Record<string, () => Promise<void>> = {
  'list-connectors': listConnectorsBench,
  'health-scale': healthScaleBench,
  'execute-overhead': executeOverheadBench,
  guards: guardsBench,
  mcp: mcpBench,
  soak: soakBench,
  rotation: rotationBench,
};

const wanted = process.argv.slice(2);
for (const [name, bench] of Object.entries(benches)) {
  if (wanted.length && !wanted.includes(name)) continue;
  console.log(`# ${name}`);
  await bench();
}
