import { migration as core } from './0001-patchbay-core.js';
import { migration as policysynth } from './0002-policysynth-registry.js';
import type { Migration } from './types.js';

/** In order. A migration, once released, is never edited: add a new one. */
export const migrations: readonly Migration[] = [core, policysynth];
