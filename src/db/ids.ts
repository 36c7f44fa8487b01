import { randomUUID } from 'node:crypto';

/** Patchbay's own row ids: UUID v4 strings. */
export const newId = (): string => randomUUID();

/** Whether `id` could be one of ours: anything else (a NUL byte included) does not exist, and is not looked up. */
export const isOwnId = (id: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
