import type { z } from 'zod';

const documentation = new WeakMap<z.ZodType, z.ZodType>();

/**
 * `validated` checks the request; `shown` is what the OpenAPI document says of it. For a body part that a service
 * checks itself, naming each wrong field in the API's own words (a connector's config, against its provider's
 * schema), the route's schema stays as loose as that check needs while the document shows every field exactly.
 */
export function documentedAs<T extends z.ZodType>(validated: T, shown: z.ZodType): T {
  documentation.set(validated, shown);
  return validated;
}

/** What the OpenAPI document shows for a route's schema: its `documentedAs` stand-in, else the schema itself. */
export const shownSchema = (schema: unknown): unknown => documentation.get(schema as z.ZodType) ?? schema;
