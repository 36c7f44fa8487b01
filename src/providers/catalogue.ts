import { describeFields, listProviders } from './registry.js';

/** The code catalogue as data: what `GET /connectors/types` serves and what the PolicySynth registry mirrors. */
export function catalogueForRegistry() {
  return listProviders().map((provider) => ({
    id: provider.id,
    type: provider.type,
    description: provider.description,
    operations: Object.keys(provider.operations),
    fields: [...describeFields(provider)],
  }));
}
