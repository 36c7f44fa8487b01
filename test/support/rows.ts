import type { Connector, Models } from '../../src/db/models/index.js';

/** A connector row written straight to the database, for data-layer tests that need one but no real config. */
export async function connectorRow(models: Models, organizationId: string, fields: Partial<Connector> = {}): Promise<Connector> {
  return models.Connector.create({
    organization_id: organizationId,
    name: 'c',
    connector_type: 'database',
    provider: 'postgresql',
    config_encrypted: 'x',
    key_id: '00000000',
    last_tested_at: null,
    last_test_result: null,
    last_error: null,
    created_by: null,
    description: null,
    ...fields,
  });
}
