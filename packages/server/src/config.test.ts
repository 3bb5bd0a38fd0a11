import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { readmeSection, renderConfigTable } from '@cordon/protocol/config';
import { ConfigError, describeConfig, loadServerConfig, serverConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-server-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('server config', () => {
  it('keeps the defaults it always had', () => {
    const c = loadServerConfig({ dataDir: join(dir, 'empty') }, {});
    expect(c).toEqual({
      dataDir: join(dir, 'empty'),
      host: '127.0.0.1',
      port: 8080,
      agentHost: '0.0.0.0',
      agentPort: 8443,
      trustProxy: [],
      heartbeatSeconds: 30,
      actionExpirySeconds: 259200,
      enrollmentTokenHours: 24,
      accessTokenSeconds: 3600,
      bodyLimitBytes: 1048576,
      rateLimitPerMinute: 1200,
      ingestRateLimitPerMinute: 600_000,
      packageRetentionDays: 30,
      maxPackageBytes: 4294967296,
      diskReserveBytes: 1073741824,
      downloadUrlSeconds: 900,
      auditCheckpointSeconds: 60,
      libraryRequireSignature: false,
      libraryTrustedKeys: [],
      libraryMaxFileBytes: 512 * 1024 * 1024,
      liveResponseQueueSeconds: 600,
      liveResponseIdleSeconds: 1800,
      logLevel: 'info',
      logFormat: 'auto',
    });
  });

  // Every CORDON_* name scripts, tests and the README use today.
  it.each([
    ['CORDON_DATA_DIR', '/srv/cordon', 'dataDir', '/srv/cordon'],
    ['CORDON_HOST', '0.0.0.0', 'host', '0.0.0.0'],
    ['CORDON_PORT', '9000', 'port', 9000],
    ['CORDON_AGENT_HOST', '10.0.0.1', 'agentHost', '10.0.0.1'],
    ['CORDON_AGENT_PORT', '9443', 'agentPort', 9443],
    ['CORDON_PUBLIC_API_URL', 'https://cordon.example/', 'publicApiUrl', 'https://cordon.example/'],
    ['CORDON_PUBLIC_AGENT_URL', 'https://agents.example:8443', 'publicAgentUrl', 'https://agents.example:8443'],
    ['CORDON_HEARTBEAT_SECONDS', '2', 'heartbeatSeconds', 2],
    ['CORDON_ACTION_EXPIRY_SECONDS', '60', 'actionExpirySeconds', 60],
    ['CORDON_ENROLLMENT_TOKEN_HOURS', '1', 'enrollmentTokenHours', 1],
    ['CORDON_ACCESS_TOKEN_SECONDS', '600', 'accessTokenSeconds', 600],
    ['CORDON_BODY_LIMIT_BYTES', '2048', 'bodyLimitBytes', 2048],
    ['CORDON_RATE_LIMIT_PER_MINUTE', '0', 'rateLimitPerMinute', 0],
    ['CORDON_TRUST_PROXY', '127.0.0.1,10.0.0.0/8', 'trustProxy', ['127.0.0.1', '10.0.0.0/8']],
    ['CORDON_PACKAGE_RETENTION_DAYS', '7', 'packageRetentionDays', 7],
    ['CORDON_MAX_PACKAGE_BYTES', '1048576', 'maxPackageBytes', 1048576],
    ['CORDON_DISK_RESERVE_BYTES', '0', 'diskReserveBytes', 0],
    ['CORDON_DOWNLOAD_URL_SECONDS', '60', 'downloadUrlSeconds', 60],
    ['CORDON_LIBRARY_REQUIRE_SIGNATURE', 'true', 'libraryRequireSignature', true],
    ['CORDON_LIBRARY_MAX_FILE_BYTES', '1048576', 'libraryMaxFileBytes', 1048576],
    ['CORDON_CONSOLE_DIR', '/opt/console', 'consoleDir', '/opt/console'],
    ['CORDON_LOG_LEVEL', 'warn', 'logLevel', 'warn'],
    ['CORDON_LOG_FORMAT', 'pretty', 'logFormat', 'pretty'],
  ] as const)('%s=%s sets %s', (name, value, key, expected) => {
    const env = { CORDON_DATA_DIR: join(dir, 'empty'), [name]: value };
    expect(loadServerConfig({}, env)[key]).toEqual(expected);
  });

  it('reads <dataDir>/server.json under the environment and flags, as the CLI passes them (text)', () => {
    const dataDir = join(dir, 'withfile');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'server.json'), JSON.stringify({ port: 1111, heartbeatSeconds: 5, logLevel: 'debug', host: '10.1.1.1' }));
    const c = loadServerConfig({ dataDir, port: '2222', logLevel: undefined }, { CORDON_HEARTBEAT_SECONDS: '7', CORDON_PORT: '3333' });
    expect(c).toMatchObject({ dataDir, port: 2222, heartbeatSeconds: 7, logLevel: 'debug', host: '10.1.1.1' });
  });

  it('finds server.json through CORDON_DATA_DIR and resolves a relative dataDir', () => {
    const dataDir = join(dir, 'viaenv');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'server.json'), JSON.stringify({ agentPort: 4444 }));
    expect(loadServerConfig({}, { CORDON_DATA_DIR: dataDir }).agentPort).toBe(4444);
    expect(loadServerConfig({ dataDir: 'rel/dir' }, {}).dataDir).toBe(resolve('rel/dir'));
  });

  it('lists every bad key at once and names unknown file keys', () => {
    const dataDir = join(dir, 'bad');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'server.json'), JSON.stringify({ heartbeatSecs: 5, bodyLimitBytes: 1 }));
    let error: unknown;
    try {
      loadServerConfig({ dataDir, port: 'http' }, { CORDON_LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.key)).toEqual(['port', 'bodyLimitBytes', 'logLevel', 'heartbeatSecs']);
    expect((error as Error).message).toMatch(/^Invalid server configuration:\n {2}port: .*\(flag --port "http"\)\n/);
  });

  it('takes library signing keys as PEM or base64 SPKI DER (env: comma-separated), refusing what is not an Ed25519 public key', () => {
    const a = generateKeyPairSync('ed25519').publicKey;
    const pem = a.export({ type: 'spki', format: 'pem' }).toString();
    const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const env = { CORDON_DATA_DIR: join(dir, 'empty'), CORDON_LIBRARY_TRUSTED_KEYS: `${pem},${der}` };
    expect(loadServerConfig({}, env).libraryTrustedKeys).toEqual([pem.trim(), der]);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    let error: unknown;
    try {
      loadServerConfig({ libraryTrustedKeys: [der, 'not a key', rsa], libraryMaxFileBytes: 1024 ** 3 }, { CORDON_DATA_DIR: join(dir, 'empty') });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => [p.key, p.message])).toEqual([
      ['libraryTrustedKeys.1', expect.stringMatching(/^is not a public key in PEM or base64 SPKI DER/)],
      ['libraryTrustedKeys.2', 'is a rsa key; library signing keys are Ed25519'],
      ['libraryMaxFileBytes', expect.stringMatching(/536870912/)],
    ]);
  });

  it('describes every key with its env name and help', () => {
    const d = describeConfig();
    expect(d.map((x) => x.key)).toEqual(Object.keys(serverConfig.keys));
    for (const x of d) expect(x.help.length).toBeGreaterThan(3);
  });

  it("matches the README's configuration table (npm run gen:config)", () => {
    const section = readmeSection(readFileSync(new URL('../../../README.md', import.meta.url), 'utf8'), 'server').text;
    expect(section).toBe(renderConfigTable(serverConfig));
    for (const d of describeConfig()) expect(section).toContain(`| \`${d.key}\` | \`${d.env}\``);
  });
});
