import { z } from 'zod';
import { errorCodes, type ErrorCode } from '../errors.js';

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
    detail: z.string(),
    instance: z.string(),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .loose()
  .describe('RFC 9457 problem details');

/** The error responses a route can give, for its OpenAPI entry: every route lists the ones it can return. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema])) as Record<number, typeof problemSchema>;
}

/** Errors any authenticated route can answer; 503 `unavailable` while Patchbay's own database cannot be reached. */
export const authProblems = problems(400, 401, 403, 404, 429, 500, 503);

export const listOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });
