import assert from 'node:assert/strict';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { PatchbayError } from '../../../src/errors.js';
import type { ProviderHarness } from '../../../src/providers/harness.js';
import type { Run, Suite } from './context.js';
import { isOff, type Call, type Peer } from './fixture.js';

/** How long sockets may take to report closed after the session that owned them closed. */
const SOCKET_CLOSE_GRACE_MS = 2_000;

/**
 * pooling, restart and lifecycle: sessions as the harness keeps them (DESIGN.md section 6). Connects and
 * closes are counted on the instrumented provider the Run hands to the harness, as the app's harness would
 * call the real one.
 */
export function describeSessions(suite: Suite): void {
  const { fixture } = suite;
  const openConnections = isOff(fixture.openConnections) ? undefined : fixture.openConnections;

  suite.capability(
    'pooling',
    fixture.pooling,
    () => {
      suite.it(
        'two executes on one pool key share a session; drop() closes it and the next call reconnects',
        { peer: true },
        async (run) => {
          const peer = run.peer();
          await peer.execute(fixture.probe);
          await peer.execute(fixture.probe);
          assert.equal(run.stats.connects, 1, 'one session for one pool key');
          await peer.harness.drop(peer.connectorId);
          assert.equal(run.stats.closes, 1, 'drop(connectorId) closed the session');
          await peer.execute(fixture.probe);
          assert.equal(run.stats.connects, 2, 'the next call connected again');
        },
      );

      // A changed connector gets a new version and so a new pool key: it never reuses a session of the old config.
      suite.it('a new config version gets a session of its own', { peer: true }, async (run) => {
        const peer = run.peer();
        await peer.execute(fixture.probe);
        await run.execute(fixture.config, fixture.probe, { harness: peer.harness, connectorId: peer.connectorId, version: 2 });
        assert.equal(run.stats.connects, 2);
      });
    },
    {},
  );

  suite.capability('restart', fixture.restart, ({ restartPeer }) => {
    suite.it('a peer restarted between two calls: the next call after a failed one succeeds', { peer: true }, async (run) => {
      // One connection per session, so the session restartPeer sees is the one the next call uses.
      const peer = run.peer({ harness: run.harness({ poolMax: 1 }) });
      await peer.execute(fixture.probe);
      const open = run.stats.sockets.filter((socket) => !socket.destroyed);
      if (run.stats.sockets.length > 0) assert.ok(open.length > 0, 'the session holds a connection before the restart');
      await restartPeer(peer);
      // The restart must really break what the session holds: every connection it had open ends. Where the
      // provider dials through the guard's lookup only (its sockets are not seen here), the fixture's restartPeer
      // proves the break itself (Redis: CLIENT KILL answered 1 and the client is gone; a proxy: dropped; the
      // MongoDB stub: it dropped the session's connections).
      await assertClosed(open, 'connections open before the restart');
      let failed: unknown;
      try {
        await peer.execute(fixture.probe);
      } catch (error) {
        // A broken session may cost one call, answered with a stable code, never a crash.
        failed = error;
        assert.ok(error instanceof PatchbayError, `the first call after the restart threw ${String(error)}`);
      }
      if (failed !== undefined) await peer.execute(fixture.probe);
    });
  });

  suite.capability(
    'lifecycle',
    fixture.lifecycle,
    () => {
      suite.it('parallel executes on one pool key all succeed on one session', { peer: true }, async (run) => {
        const peer = run.peer();
        const results = await Promise.all(Array.from({ length: 8 }, () => peer.execute(fixture.probe)));
        assert.ok(results.every((result) => result.ok));
        assert.equal(run.stats.connects, 1);
      });

      suite.it("a connection test's one-shot session is closed and never pooled", { peer: true }, async (run) => {
        const harness = run.harness();
        assert.equal((await run.test(fixture.config, harness)).success, true);
        await assertSessionsClosed(run);
        await assertConnectionsClosed(run, openConnections);
        assert.equal(run.stats.closes, run.stats.connects, 'every test session closed');
        await run.test(fixture.config, harness);
        assert.equal(run.stats.connects, 2, 'each test connects afresh');
      });

      suite.it('close is idempotent: harness.close() twice, then each session closed again', { peer: true }, async (run) => {
        const peer = await busyPeer(run, fixture.probe);
        await peer.harness.close();
        await peer.harness.close();
        for (const session of run.stats.sessions) await session.close(); // a second close of each session
        await assertSessionsClosed(run);
      });

      suite.it('no connection is left open after harness.close()', { peer: true }, async (run, t) => {
        const peer = await busyPeer(run, fixture.probe);
        if (openConnections) assert.ok((await openConnections()) > 0, 'the peer counts no connection before the close');
        await peer.harness.close();
        if ((await assertConnectionsClosed(run, openConnections)) === 'unseen') {
          const reason = isOff(fixture.openConnections)
            ? fixture.openConnections.off
            : `its connections do not go through the egress guard's socket(), and the fixture gives no openConnections`;
          t.skip(`the suite saw no socket of ${suite.provider.id}: ${reason}`);
        }
      });
    },
    {},
  );
}

/** A pooled session that has run two calls at once, and a connection test on the same harness. */
async function busyPeer(run: Run, probe: Call): Promise<Peer & { harness: ProviderHarness }> {
  const peer = run.peer();
  await Promise.all([peer.execute(probe), peer.execute(probe)]);
  await run.test(peer.config, peer.harness);
  return peer;
}

/** Every session the provider opened has been closed, within a grace period. */
async function assertSessionsClosed(run: Run): Promise<void> {
  // From at least one to none: a check over nothing opened proves nothing.
  assert.ok(run.stats.sessions.length > 0, 'the test opened a session');
  const deadline = Date.now() + SOCKET_CLOSE_GRACE_MS;
  while (run.stats.closes < run.stats.sessions.length && Date.now() < deadline) await sleep(20);
  assert.ok(run.stats.closes >= run.stats.sessions.length, `${run.stats.sessions.length} sessions, ${run.stats.closes} closes`);
}

/**
 * Every connection the provider opened is closed, within a grace period: each socket it dialled through the
 * egress guard, and, where the fixture gives the peer's own count, none open there either. 'unseen' when
 * neither shows anything (a driver given the guard's lookup only, or no network at all): nothing was checked.
 */
async function assertConnectionsClosed(run: Run, openConnections?: () => Promise<number>): Promise<'checked' | 'unseen'> {
  await assertClosed(run.stats.sockets, 'sockets');
  if (openConnections) {
    const deadline = Date.now() + SOCKET_CLOSE_GRACE_MS;
    while ((await openConnections()) > 0 && Date.now() < deadline) await sleep(20);
    assert.equal(await openConnections(), 0, 'connections the peer still counts open');
    return 'checked';
  }
  return run.stats.sockets.length > 0 ? 'checked' : 'unseen';
}

/** Every one of `sockets` reports closed within the grace period. */
async function assertClosed(sockets: net.Socket[], what: string): Promise<void> {
  const deadline = Date.now() + SOCKET_CLOSE_GRACE_MS;
  while (sockets.some((socket) => !socket.destroyed) && Date.now() < deadline) await sleep(20);
  const open = sockets.filter((socket) => !socket.destroyed);
  assert.equal(open.length, 0, `${open.length} of ${sockets.length} ${what} still open`);
}
