import type { ApiKey, AgentToken } from '../../db/models/index.js';
import type { AgentPrincipal } from '../runtime-types.js';
import type { Principal } from '../runtime-types.js';
import type { AttachmentService, ResolvedAttachment } from '../connectors/attachment-service.js';
import { effectiveLimits, parseOverride } from '../connectors/attachment-service.js';
import type { AuditWriter } from '../audit-writer.js';
import type { Change, ChangeFeed, ChangeTag } from './change-feed.js';
import { effectiveConfig } from '../../providers/boundaries.js';
import { poolKey } from '../../providers/harness.js';
import { LAST_USED_RESOLUTION_MS } from '../connectors/secrets.js';

/**
 * How long an entry may serve without being read again: the bound on staleness should every push fail (a
 * listener that is gone without noticing). Changes are pushed (services/runtime/change-feed.ts), so this is rarely what
 * ends an entry.
 */
export const CACHE_TTL_MS = 5_000;
/** Entries per map; past it the oldest goes (credentials and attachments in use are few per process). */
const MAX_ENTRIES = 10_000;

/** An attachment as the run-time path needs it, resolved once per cache entry. */
export interface RuntimeAttachment extends ResolvedAttachment {
  override: Record<string, unknown>;
  limits: ReturnType<typeof effectiveLimits>;
  poolKey: string;
  /** The connector's decrypted config with the override applied; decrypted on first use (a failure is the call's). */
  config(decrypt: () => Record<string, unknown>): Record<string, unknown>;
}

interface Entry<V> {
  value: V;
  expires: number;
  tags: ChangeTag[];
}

/** A credential row as the cache keeps it: the checks that depend on time are made on every use. */
interface CredentialRow {
  id: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** A map of entries that expire, drop by tag, and are never stored from a load that a change overtook. */
class TaggedCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly loading = new Map<string, Promise<V | null>>();

  constructor(private readonly owner: PrincipalCache) {}

  async get(key: string, load: () => Promise<V | null>, tagsOf: (value: V) => ChangeTag[]): Promise<V | null> {
    const now = Date.now();
    const entry = this.entries.get(key);
    if (entry && entry.expires > now) return entry.value;
    if (entry) this.entries.delete(key);
    if (this.owner.ttlMs <= 0) return load();
    // Concurrent misses of one key share one load.
    let pending = this.loading.get(key);
    if (!pending) {
      const generation = this.owner.generation;
      pending = load()
        .then((value) => {
          // A change heard while loading may have come after the read: keep nothing.
          if (value !== null && generation === this.owner.generation) {
            if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
            this.entries.set(key, { value, expires: Date.now() + this.owner.ttlMs, tags: tagsOf(value) });
          }
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  drop(change: Change): void {
    if (change === 'all') return void this.entries.clear();
    const exact = new Set(change.filter((tag) => !tag.endsWith(':*')));
    const kinds = change.filter((tag) => tag.endsWith(':*')).map((tag) => tag.slice(0, -1));
    for (const [key, entry] of this.entries) {
      if (entry.tags.some((tag) => exact.has(tag) || kinds.some((kind) => tag.startsWith(kind)))) this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

interface TokenEntry {
  token: CredentialRow;
  principal: AgentPrincipal;
}

interface ApiKeyEntry {
  key: CredentialRow;
  principal: Principal;
}

/**
 * The run-time path's reads, from memory: agent tokens and API keys by hash (with their agent, user, memberships
 * and organisations), attachments by (organisation, agent, alias) with their connector, effective limits and
 * decrypted config, and derived values (MCP tool lists) by agent. Entries are dropped by the changes the feed
 * reports (at once for changes made in this process, on commit; within a second for other processes), and live
 * at most `ttlMs` in any case. Revocation and expiry are checked on every use from the cached row; the time of
 * use goes to the audit writer, coalesced to once per LAST_USED_RESOLUTION_MS per credential.
 */
export class PrincipalCache {
  /** Bumped by every change heard: a load that started before it stores nothing. */
  generation = 0;
  readonly ttlMs: number;
  private readonly tokens = new TaggedCache<TokenEntry>(this);
  private readonly apiKeys = new TaggedCache<ApiKeyEntry>(this);
  private readonly attachments = new TaggedCache<RuntimeAttachment>(this);
  private readonly derived = new TaggedCache<unknown>(this);

  constructor(
    private readonly deps: {
      feed?: ChangeFeed;
      writer?: AuditWriter;
      /** Where a use is recorded without a writer (a service used alone): awaited, as before caching. */
      touchDirect?: (kind: 'api_key' | 'agent_token', id: string, at: Date) => Promise<void>;
      /** @default CACHE_TTL_MS; 0 caches nothing */
      ttlMs?: number;
    } = {},
  ) {
    this.ttlMs = deps.ttlMs ?? CACHE_TTL_MS;
    deps.feed?.subscribe((change) => this.invalidate(change));
  }

  /** Drops the entries a change touches ('all': every entry). */
  invalidate(change: Change): void {
    this.generation += 1;
    for (const cache of [this.tokens, this.apiKeys, this.attachments, this.derived]) cache.drop(change);
  }

  /** A live agent token's principal, or null (unknown, revoked or expired). */
  async agentToken(hash: string, load: (hash: string) => Promise<TokenEntry | null>): Promise<AgentPrincipal | null> {
    const entry = await this.tokens.get(
      hash,
      () => load(hash),
      ({ token, principal }) => [
        `agent_token:${token.id}`,
        `agent:${principal.agentPk}`,
        `organization:${principal.organization.id}`,
      ],
    );
    if (!entry || !(await this.live('agent_token', entry.token))) return null;
    return entry.principal;
  }

  /** A live API key's principal, or null. */
  async apiKey(hash: string, load: (hash: string) => Promise<ApiKeyEntry | null>): Promise<Principal | null> {
    const entry = await this.apiKeys.get(
      hash,
      () => load(hash),
      ({ key, principal }) => [
        `api_key:${key.id}`,
        `user:${principal.user.id}`,
        ...principal.memberships.map((membership) => `organization:${membership.organization.id}`),
      ],
    );
    if (!entry || !(await this.live('api_key', entry.key))) return null;
    return entry.principal;
  }

  /** An agent's attachment by alias (not_found as AttachmentService.byAlias throws it). */
  async attachment(
    attachments: AttachmentService,
    organizationId: string,
    agentId: string,
    alias: string,
  ): Promise<RuntimeAttachment> {
    const value = await this.attachments.get(
      `${organizationId}\u0000${agentId}\u0000${alias}`,
      async () => runtimeAttachment(await attachments.byAlias(organizationId, agentId, alias)),
      ({ instance, connector, agent }) => [
        `attachment:${instance.id}`,
        `connector:${connector.id}`,
        `agent:${agent.id}`,
        `organization:${organizationId}`,
      ],
    );
    return value as RuntimeAttachment;
  }

  /**
   * A value derived from an agent's attachments (its MCP tool list), kept until any attachment, connector or the
   * agent itself changes. `tags` names what it was built from.
   */
  async derive<V>(key: string, build: () => Promise<{ value: V; tags: ChangeTag[] }>): Promise<V> {
    let tags: ChangeTag[] = [];
    const value = await this.derived.get(
      key,
      async () => {
        const built = await build();
        tags = built.tags;
        return built.value as unknown;
      },
      () => tags,
    );
    return value as V;
  }

  /** Entries held, per kind (tests, metrics). */
  get sizes() {
    return {
      tokens: this.tokens.size,
      apiKeys: this.apiKeys.size,
      attachments: this.attachments.size,
      derived: this.derived.size,
    };
  }

  private async live(kind: 'api_key' | 'agent_token', row: CredentialRow): Promise<boolean> {
    const now = new Date();
    if (row.revoked_at || (row.expires_at && row.expires_at <= now)) return false;
    if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      // The cached row remembers it, so the next calls within the resolution write nothing.
      row.last_used_at = now;
      if (this.deps.writer) this.deps.writer.touch(kind, row.id, now);
      else await this.deps.touchDirect?.(kind, row.id, now);
    }
    return true;
  }
}

/** The cached credential row: only what the checks need (the model instance is not kept). */
export const credentialRow = (row: ApiKey | AgentToken): CredentialRow => ({
  id: row.id,
  expires_at: row.expires_at,
  revoked_at: row.revoked_at,
  last_used_at: row.last_used_at,
});

function runtimeAttachment(resolved: ResolvedAttachment): RuntimeAttachment {
  const override = parseOverride(resolved.instance);
  let config: Record<string, unknown> | undefined;
  return {
    ...resolved,
    override,
    limits: effectiveLimits(resolved.instance.limits),
    poolKey: poolKey(resolved.connector.id, resolved.connector.version, override),
    config(decrypt) {
      // The connector's current boundary narrowed by the override, checked when first built: scope_denied (and
      // nothing kept) while the override is no longer inside it; a connector change drops this entry.
      config ??= effectiveConfig(resolved.connector.provider, decrypt(), override);
      // A copy per call: nothing a provider does to its config reaches the next call.
      return { ...config };
    },
  };
}
