/**
 * A tour of @patchbay/sdk as an agent: its attachments, a query, an error, its tools (for frameworks without MCP)
 * and its MCP endpoint. From the repository root, with a server running and an agent token:
 *
 *   PATCHBAY_URL=http://127.0.0.1:8080 PATCHBAY_AGENT_TOKEN=pbt_… node --import tsx packages/sdk/examples/agent.ts
 *
 * PATCHBAY_ALIAS names the SQL attachment (postgresql, mysql or sqlite) to query; the first one by default.
 */
import { PatchbayAgent, PatchbayError } from '@patchbay/sdk';

const SQL_PROVIDERS = new Set(['postgresql', 'mysql', 'sqlite']);

const token = process.env.PATCHBAY_AGENT_TOKEN;
if (!token) {
  console.error('Set PATCHBAY_AGENT_TOKEN to an agent token (POST /api/v1/agents/{id}/tokens issues one).');
  process.exit(2);
}
// The agent id is learned from the token (GET /api/v1/whoami).
const agent = new PatchbayAgent({ baseUrl: process.env.PATCHBAY_URL ?? 'http://127.0.0.1:8080', token });

const attachments = await agent.listAttachments();
console.log(`attachments: ${attachments.length}`);
for (const attachment of attachments) {
  console.log(`  ${attachment.alias}: ${attachment.connector.provider}, ${attachment.mode}, ${attachment.status}`);
}

const alias =
  process.env.PATCHBAY_ALIAS ?? attachments.find((attachment) => SQL_PROVIDERS.has(attachment.connector.provider))?.alias;
if (!alias) {
  console.error('No SQL attachment to query: attach a postgresql, mysql or sqlite connector, or set PATCHBAY_ALIAS.');
  process.exit(1);
}

// `:name` placeholders are bound as parameters, never spliced into the SQL.
const result = await agent.execute(alias, {
  query: 'SELECT :greeting AS greeting, 6 * 7 AS answer',
  params: { greeting: 'hello' },
});
const { rows } = result.data as { rows: Record<string, unknown>[] };
console.log(`query on ${alias}: ${JSON.stringify(rows)} in ${result.latency_ms} ms${result.truncated ? ', truncated' : ''}`);

// Failures are PatchbayErrors: switch on `code`; `retryable` says whether the same call may succeed later.
try {
  await agent.execute(alias, { query: 'SELECT * FROM no_such_table' });
} catch (error) {
  if (!(error instanceof PatchbayError)) throw error;
  console.log(`error: ${error.code} (HTTP ${error.status}, retryable: ${error.retryable})`);
}

// Tools for a model that calls tools without MCP: hand `definitions` to the model, its choices to `call`.
const tools = await agent.tools({ aliases: [alias] });
console.log(`tools: ${tools.definitions.map((tool) => tool.name).join(', ')}`);
const described = await tools.call(`${alias}__describe`);
const { tables } = described.data as { tables: { name: string; columns: { name: string }[] }[] };
console.log(
  `tables: ${tables.map((table) => `${table.name}(${table.columns.map((column) => column.name).join(', ')})`).join(', ') || 'none'}`,
);

// An MCP client connects here, sending agent.mcpHeaders() (the token) with every request.
console.log(`mcp: ${await agent.mcpUrl()}`);
