import { config } from 'zod';

// Before any schema is built: zod must never compile validators with `new Function`, which the CSP forbids.
config({ jitless: true });
