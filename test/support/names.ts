import { randomBytes } from 'node:crypto';

/**
 * A name no other test, file or run uses: `prefix`, `separator` and eight random hex digits. Fixtures make
 * their tables, buckets, queues and topics under such names and remove them afterwards (STYLE.md section 5).
 */
export const uniqueName = (prefix: string, separator = '-'): string => `${prefix}${separator}${randomBytes(4).toString('hex')}`;

/** A unique name that is also a plain SQL identifier or Redis ACL user name: `prefix_` and hex digits. */
export const uniqueIdentifier = (prefix: string): string => uniqueName(prefix, '_');
