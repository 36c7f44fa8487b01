import type { Sequelize } from 'sequelize';
import { initAccountModels } from './accounts.js';
import { initConnectorModels } from './connectors.js';
import { initPolicySynthModels } from './policysynth.js';
import { initSessionModels } from './sessions.js';
import { initWebhookModels } from './webhooks.js';

export * from './accounts.js';
export * from './connectors.js';
export * from './policysynth.js';
export * from './sessions.js';
export * from './webhooks.js';

/**
 * Binds every model, Patchbay's own and the PolicySynth registry's, to one Sequelize instance.
 * `import { initModels } from 'patchbay/models'`.
 */
export function initModels(sequelize: Sequelize) {
  const models = {
    ...initAccountModels(sequelize),
    ...initConnectorModels(sequelize),
    ...initWebhookModels(sequelize),
    ...initPolicySynthModels(sequelize),
    ...initSessionModels(sequelize),
  };
  // Across the groups: an agent token resolves to its agent and organisation in one query on every run-time call.
  models.Agent.belongsTo(models.Organization, { foreignKey: 'organization_id', as: 'organization' });
  return models;
}

export type Models = ReturnType<typeof initModels>;
