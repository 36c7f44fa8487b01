import { z } from 'zod';
import { managedBySchema } from './connectors.js';

/** The closing fields of every view of a resource a member made and a provisioning file may own. */
export const ownedFields = {
  created_by: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  managed_by: managedBySchema,
};
