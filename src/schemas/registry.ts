import { z } from 'zod';
import { nameString, storableJsonObject } from './strings.js';

const configuration = z.record(z.string(), z.unknown());

/** A PolicySynth agent or connector class, as the registry lists it. */
export const registryClassSchema = z.object({
  uuid: z.string(),
  class_base_id: z.string().describe('Shared by every version of one class'),
  name: z.string(),
  version: z.number().int(),
  available: z.boolean(),
  configuration,
});

export const registrySchema = z.object({
  uuid: z.string(),
  configuration,
  agent_classes: z.array(registryClassSchema),
  connector_classes: z.array(registryClassSchema),
});

export const classParams = z.object({ uuid: z.string() });

export const createAgentClassBody = z.strictObject({
  name: nameString(255),
  version: z.number().int().min(1).max(2_147_483_647),
  configuration: storableJsonObject().describe('PolicySynth agent class configuration, stored as given'),
  available: z.boolean(),
});
