import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Sequelize } from 'sequelize';
import type { CallObservation } from '../../providers/harness.js';

/**
 * The Prometheus metrics of one app (`GET /metrics`). Every label is bounded: a route pattern (never a raw
 * URL), a method, a status, a provider id, an error code, an event name. The one unbounded label, connector_id,
 * is added to the per-connector counters only when PATCHBAY_METRICS_TOKEN is set (`/metrics` then needs it), and
 * never to a histogram, whose series it would multiply by the bucket count. No label or value carries a secret.
 *
 * Each app has its own registry (tests build many apps in one process); the process metrics (CPU, RSS, event
 * loop, GC) are collected once per process into a registry of their own and appended.
 */

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];

let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Where the pool gauges read their numbers; each is optional, so tests and the CLI can leave them out. */
export interface PoolSources {
  sequelize?: Sequelize;
  providerSessions?: () => number;
}

export class Metrics {
  readonly registry = new Registry();
  /** Whether connector ids may appear (only behind PATCHBAY_METRICS_TOKEN). */
  readonly withConnectorIds: boolean;

  private readonly httpRequests: Counter;
  private readonly httpDuration: Histogram;
  private readonly calls: Counter;
  private readonly callDuration: Histogram;
  private readonly schedulerLag: Histogram;
  private readonly checksInFlight: Gauge;
  private readonly deliveries: Counter;
  private pools: PoolSources = {};

  constructor(options: { withConnectorIds: boolean }) {
    this.withConnectorIds = options.withConnectorIds;
    const registers = [this.registry];
    const perConnector = this.withConnectorIds ? ['connector_id'] : [];

    this.httpRequests = new Counter({
      name: 'patchbay_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'patchbay_http_request_duration_seconds',
      help: 'HTTP request latency, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.calls = new Counter({
      name: 'patchbay_connector_calls_total',
      help: 'Connector tests (manual and scheduled) and executes, by kind, provider and outcome (success or the error code)',
      labelNames: ['kind', 'provider', 'outcome', ...perConnector],
      registers,
    });
    this.callDuration = new Histogram({
      name: 'patchbay_connector_call_duration_seconds',
      help: 'Connector test and execute latency, by kind, provider and outcome',
      labelNames: ['kind', 'provider', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.schedulerLag = new Histogram({
      name: 'patchbay_scheduler_lag_seconds',
      help: 'How late scheduled health checks start, after their due time',
      buckets: LAG_BUCKETS,
      registers,
    });
    this.checksInFlight = new Gauge({
      name: 'patchbay_scheduler_checks_in_flight',
      help: 'Scheduled health checks running now in this process',
      registers,
    });
    this.deliveries = new Counter({
      name: 'patchbay_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by event and outcome (delivered, retrying, failed)',
      labelNames: ['event', 'outcome'],
      registers,
    });

    const pools = () => this.pools;
    new Gauge({
      name: 'patchbay_db_pool_connections',
      help: "Connections in the database pool, by state (PostgreSQL; SQLite has no pool)",
      labelNames: ['state'],
      registers,
      collect() {
        const pool = poolOf(pools().sequelize);
        if (!pool) return;
        this.set({ state: 'in_use' }, pool.using);
        this.set({ state: 'idle' }, pool.available);
        this.set({ state: 'waiting' }, pool.waiting);
      },
    });
    new Gauge({
      name: 'patchbay_provider_sessions',
      help: 'Pooled connector sessions open in this process',
      registers,
      collect() {
        const count = pools().providerSessions?.();
        if (count !== undefined) this.set(count);
      },
    });
  }

  /** Tells the pool gauges where to look (the services are built after the metrics). */
  watchPools(sources: PoolSources): void {
    this.pools = sources;
  }

  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    const labels = { method, route, status_code: String(statusCode) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  observeCall(call: CallObservation): void {
    const labels = { kind: call.kind, provider: call.providerId, outcome: call.errorCode ?? 'success' };
    this.calls.inc(this.withConnectorIds ? { ...labels, connector_id: call.connectorId ?? '' } : labels);
    this.callDuration.observe(labels, call.latencyMs / 1000);
  }

  observeLag(seconds: number): void {
    this.schedulerLag.observe(Math.max(0, seconds));
  }

  checkStarted(): void {
    this.checksInFlight.inc();
  }

  checkFinished(): void {
    this.checksInFlight.dec();
  }

  observeDelivery(event: string, outcome: 'delivered' | 'retrying' | 'failed'): void {
    this.deliveries.inc({ event, outcome });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of this app's metrics followed by the process's. */
  async render(): Promise<string> {
    return `${await this.registry.metrics()}\n${await processMetrics().metrics()}`;
  }
}

interface PoolCounts {
  using: number;
  available: number;
  waiting: number;
}

/** sequelize-pool's counters, where the dialect has a pool (PostgreSQL); undefined on SQLite. */
function poolOf(sequelize: Sequelize | undefined): PoolCounts | undefined {
  const pool = (sequelize?.connectionManager as { pool?: Partial<PoolCounts> } | undefined)?.pool;
  if (!pool || typeof pool.using !== 'number' || typeof pool.available !== 'number' || typeof pool.waiting !== 'number') {
    return undefined;
  }
  return { using: pool.using, available: pool.available, waiting: pool.waiting };
}
