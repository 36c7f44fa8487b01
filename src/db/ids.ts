import { randomUUID } from 'node:crypto';

/** Patchbay's own row ids: UUID v4 strings. */
export const newId = (): string => randomUUID();
