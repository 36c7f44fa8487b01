import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { userOf } from '../../../plugins/auth.js';
import { readSessionCookie } from '../../../plugins/console-session.js';
import { meSchema } from '../../../schemas/console.js';
import { authProblems } from '../../../schemas/problem.js';
import { meView } from './sessions.js';

/** The signed-in user, for the web console: organisations with names and roles, the operator flag, the session. */
const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/',
    {
      config: { access: { scope: 'user' } },
      schema: { tags: ['accounts'], summary: 'The calling user, their organisations and roles, and their console session', response: { 200: meSchema, ...authProblems } },
    },
    async (request) => {
      const caller = userOf(request);
      const token = request.headers.authorization === undefined ? readSessionCookie(request) : undefined;
      const session = token ? await app.services.sessions.expiry(token) : null;
      return meView(caller, session);
    },
  );
};

export default routes;
