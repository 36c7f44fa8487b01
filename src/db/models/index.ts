import type { Sequelize } from 'sequelize';
import { initAccountModels } from './accounts.js';
import { initConnectorModels } from './connectors.js';
import { initPolicySynthModels } from './policysynth.js';
import { initWebhookModels } from './webhooks.js';

export * from './accounts.js';
export * from './connectors.js';
export * from './policysynth.js';
export * from './webhooks.js';

/**
 * Binds every model, Patchbay's own and the PolicySynth registry's, to one Sequelize instance.
 * `import { initModels } from 'patchbay/models'`.
 */
export function initModels(sequelize: Sequelize) {
  return {
    ...initAccountModels(sequelize),
    ...initConnectorModels(sequelize),
    ...initWebhookModels(sequelize),
    ...initPolicySynthModels(sequelize),
  };
}

export type Models = ReturnType<typeof initModels>;
