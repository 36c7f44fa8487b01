import { migration as core } from './0001-patchbay-core.js';
import { migration as policysynth } from './0002-policysynth-registry.js';
import { migration as healthAndWebhooks } from './0003-health-and-webhooks.js';
import { migration as rateCounters } from './0004-rate-counters.js';
import { migration as changeNotify } from './0005-change-notify.js';
import type { Migration } from './types.js';

/** In order. A migration, once released, is never edited: add a new one. */
export const migrations: readonly Migration[] = [core, policysynth, healthAndWebhooks, rateCounters, changeNotify];
