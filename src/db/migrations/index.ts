import { migration as core } from './0001-patchbay-core.js';
import { migration as policysynth } from './0002-policysynth-registry.js';
import { migration as healthAndWebhooks } from './0003-health-and-webhooks.js';
import { migration as rateCounters } from './0004-rate-counters.js';
import { migration as invitations } from './0005-invitations.js';
import { migration as consoleSessions } from './0006-console-sessions.js';
import { migration as managedBy } from './0007-managed-by.js';
import { migration as changeNotify } from './0008-change-notify.js';
import type { Migration } from './types.js';

/** In order. A migration, once released, is never edited: add a new one. */
export const migrations: readonly Migration[] = [core, policysynth, healthAndWebhooks, rateCounters, invitations, consoleSessions, managedBy, changeNotify];
