import { userInfo } from 'node:os';
import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

/** The revocation commands: admin ones on the server's data directory (while it runs), `machine revoke` through the API. */
describe('revocation commands against a real server', () => {
  let h: Harness;
  let dataDir: string;
  let conn: string[];
  const actor = `cli:${userInfo().username}`;
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    dataDir = h.server.config.dataDir;
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
  });
  afterAll(async () => {
    await h.close();
  });

  /** Runs the CLI in-process; answers what it printed on stdout. */
  const cordon = (...args: string[]): Promise<string> => runCordon(args, { quiet: true });
  const lastAudit = async () => (await h.call('GET', '/api/audit?$top=1')).body.value[0];

  it('token list | revoke <id> --comment: never prints a secret, and the token stops working', async () => {
    const created = (await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'ci \u001b[2Jbot' } })).body as { id: string; token: string };
    const table = await cordon('token', 'list', '--data-dir', dataDir);
    expect(table).toContain(created.id);
    expect(table).toContain('ci \\x1b[2Jbot');
    expect(table).not.toContain('\u001b');
    const json = await cordon('token', 'list', '--data-dir', dataDir, '--json');
    expect(json).not.toContain(created.token);
    expect(JSON.parse(json).find((t: { id: string }) => t.id === created.id)).toMatchObject({ role: 'viewer', revokedAt: null });

    await expect(cordon('token', 'revoke', created.id, '--data-dir', dataDir)).rejects.toThrow(/--comment/);
    await expect(cordon('token', 'revoke', '00000000-0000-4000-8000-000000000000', '--comment', 'x', '--data-dir', dataDir)).rejects.toThrow(/was not found/);
    expect((await h.call('GET', '/api/machines', { token: created.token })).status).toBe(200);

    const out = JSON.parse(await cordon('token', 'revoke', created.id, '--comment', 'rotated', '--data-dir', dataDir, '--json'));
    expect(out).toMatchObject({ id: created.id, revokedBy: actor, revokedAt: expect.any(String) });
    expect((await h.call('GET', '/api/machines', { token: created.token })).status).toBe(401);
    expect(await lastAudit()).toMatchObject({ actor, action: 'RevokeApiToken', targetId: created.id, comment: 'rotated', outcome: 'Succeeded' });
    await expect(cordon('token', 'revoke', created.id, '--comment', 'again', '--data-dir', dataDir)).rejects.toThrow(/revoked already/);
  });

  it('app list | revoke <clientId> --comment', async () => {
    const app = (await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'soar' } })).body as { clientId: string; clientSecret: string };
    const table = await cordon('app', 'list', '--data-dir', dataDir);
    expect(table).toContain(app.clientId);
    expect(table).not.toContain(app.clientSecret);
    expect(await cordon('app', 'revoke', app.clientId, '--comment', 'retired', '--data-dir', dataDir)).toContain(app.clientId);
    expect(await lastAudit()).toMatchObject({ actor, action: 'RevokeApp', targetId: app.clientId, comment: 'retired' });
  });

  it('user list | disable <username> --comment', async () => {
    await h.server.services.users.createUser('alice', 'correct horse battery', 'analyst', 'test');
    const table = await cordon('user', 'list', '--data-dir', dataDir);
    expect(table).toMatch(/alice.*analyst/);
    expect(table).not.toMatch(/scrypt/);
    expect(await cordon('user', 'disable', 'alice', '--comment', 'left', '--data-dir', dataDir)).toContain('alice');
    expect(await lastAudit()).toMatchObject({ actor, action: 'DisableUser', comment: 'left' });
    const signIn = await h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'alice', password: 'correct horse battery' } });
    expect(signIn.statusCode).toBe(401);
    await expect(cordon('user', 'disable', 'nobody', '--comment', 'x', '--data-dir', dataDir)).rejects.toThrow(/was not found/);
  });

  it('enrollment-token list | revoke <id> --comment', async () => {
    const t = (await h.call('POST', '/api/enrollmentTokens')).body as { id: string; token: string };
    const table = await cordon('enrollment-token', 'list', '--data-dir', dataDir);
    expect(table).toContain(t.id);
    expect(table).not.toContain(t.token.split('.')[1]);
    expect(await cordon('enrollment-token', 'revoke', t.id, '--comment', 'roll-out done', '--data-dir', dataDir)).toContain(t.id);
    expect(await lastAudit()).toMatchObject({ actor, action: 'RevokeEnrollmentToken', targetId: t.id, comment: 'roll-out done' });
  });

  it('machine revoke <machine> --comment, through the API; `machine <m>` still shows a machine, and says it', async () => {
    const id = await h.enroll({ hostname: 'laptop-7' });
    await expect(cordon('machine', 'revoke', 'laptop-7', ...conn)).rejects.toThrow(/--comment/);
    await expect(cordon('machine', 'revoke', 'laptop-7', '--comment', 'x', '--server', conn[1]!, '--token', h.tokens.responder)).rejects.toThrow(/responder role does not have the admin.enrollment permission/);
    const out = JSON.parse(await cordon('machine', 'revoke', 'laptop-7', '--comment', 'stolen', '--json', ...conn));
    expect(out).toMatchObject({ id, credentialRevokedAt: expect.any(String), credentialRevokedBy: 'admin', isConnected: false });
    expect(await cordon('machine', 'laptop-7', ...conn)).toMatch(/credential\s*│\s*revoked .* by admin; the agent must enroll again/);
    expect(await lastAudit()).toMatchObject({ actor: 'admin', action: 'RevokeDeviceCredential', targetId: id, comment: 'stolen' });
  });
});
