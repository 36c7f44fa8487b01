import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { PatchbayError } from '../../../errors.js';
import { whoamiSchema } from '../../../schemas/agents.js';
import { authProblems } from '../../../schemas/problem.js';

/**
 * The credential's own identity, for any credential: a user with their organisations and roles, or an agent
 * token's agent, organisation and token id (how an SDK holding only a token learns its agent id).
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/',
    {
      config: { access: { scope: 'any' } },
      schema: { tags: ['accounts'], summary: 'Who the presented key or agent token is', response: { 200: whoamiSchema, ...authProblems } },
    },
    async (request) => {
      const caller = request.caller;
      if (!caller) throw new PatchbayError('internal_error', 'whoami without a caller');
      if (caller.kind === 'agent') {
        const { agentId, organization, tokenId } = caller.agent;
        return { type: 'agent' as const, agent_id: agentId, organization: { id: organization.id, slug: organization.slug }, token_id: tokenId };
      }
      return {
        type: 'user' as const,
        user: { id: caller.user.id, email: caller.user.email },
        organizations: caller.memberships.map(({ organization, role }) => ({ id: organization.id, slug: organization.slug, role })),
      };
    },
  );
};

export default routes;
