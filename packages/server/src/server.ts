import { hostname } from 'node:os';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { ACTION_CATALOG, CommandSigner, CONTENT_CAPABILITY, ContentSigner, type ActionCatalog } from '@cordon/protocol';
import { createActionHandlers, LiveResponseHandler } from './actions/index.js';
import { LocalBus } from './cluster/bus.js';
import { ClusterNode } from './cluster/node.js';
import { PostgresBus } from './cluster/postgres-bus.js';
import { NodesRepository } from './repositories/nodes.repository.js';
import { StoreCounters, StoreLocks } from './repositories/counters.repository.js';
import { KeyedMutex, MemoryCounters } from './services/counters.js';
import { systemClock, type Clock } from './clock.js';
import type { ServerConfig } from './config.js';
import { openStore, storeAnswers, storeAnswersCached, type Db } from './db/database.js';
import { underStoreLock } from './db/portable.js';
import { EventHub, RevocationSignal } from './events.js';
import { AgentGateway } from './gateway/gateway.js';
import { createHttpApp } from './http/app.js';
import { createMetrics } from './metrics.js';
import { loadOrCreateKeys, type ServerKeys } from './pki/keystore.js';
import { ActionsRepository } from './repositories/actions.repository.js';
import { ContentRepository } from './repositories/content.repository.js';
import { IndicatorsRepository } from './repositories/indicators.repository.js';
import { RulePacksRepository } from './repositories/rulepacks.repository.js';
import { LibraryRepository } from './repositories/library.repository.js';
import { LiveResponseRepository } from './repositories/live-response.repository.js';
import { ScanPoliciesRepository } from './repositories/scan-policies.repository.js';
import { PackagesRepository } from './repositories/packages.repository.js';
import { UsersRepository } from './repositories/users.repository.js';
import { AuditRepository } from './repositories/audit.repository.js';
import { transactor } from './repositories/transactor.js';
import { CredentialsRepository } from './repositories/credentials.repository.js';
import { IsolationRepository } from './repositories/isolation.repository.js';
import { MachinesRepository } from './repositories/machines.repository.js';
import { TimelineRepository } from './repositories/timeline.repository.js';
import { actionsRoutes } from './routes/actions.routes.js';
import { packagesRoutes } from './routes/packages.routes.js';
import { sessionsRoutes } from './routes/sessions.routes.js';
import { eventsRoutes } from './routes/events.routes.js';
import { credentialsRoutes } from './routes/credentials.routes.js';
import { adminRoutes, oauthRoutes } from './routes/auth.routes.js';
import { healthRoutes } from './routes/health.routes.js';
import { indicatorsRoutes } from './routes/indicators.routes.js';
import { rulePacksRoutes } from './routes/rulepacks.routes.js';
import { libraryRoutes } from './routes/library.routes.js';
import { liveResponseRoutes } from './routes/live-response.routes.js';
import { liveBatchRoutes } from './routes/live-batch.routes.js';
import { scanPoliciesRoutes } from './routes/scan-policies.routes.js';
import { quarantineRoutes } from './routes/quarantine.routes.js';
import { QuarantineRepository } from './repositories/quarantine.repository.js';
import { QuarantineService } from './services/quarantine.service.js';
import { deviceGroupsRoutes } from './routes/device-groups.routes.js';
import { DeviceGroupsRepository } from './repositories/device-groups.repository.js';
import { DeviceGroupsService, rankedGroups } from './services/device-groups.service.js';
import { isolationRoutes } from './routes/isolation-policies.routes.js';
import { machinesRoutes } from './routes/machines.routes.js';
import { ActionsService } from './services/actions.service.js';
import { ActionExpiryService } from './services/action-expiry.service.js';
import { ActionLifecycle } from './services/action-lifecycle.js';
import { ActionProgressBoard } from './services/action-progress.js';
import { AgentReportsService } from './services/agent-reports.service.js';
import { ContentService } from './services/content.service.js';
import { IndicatorsService } from './services/indicators.service.js';
import { RulePacksService } from './services/rulepacks.service.js';
import { LibraryService } from './services/library.service.js';
import { LiveFilesService } from './services/live-files.service.js';
import { LiveBatchService } from './services/live-batch.service.js';
import { DownloadUrls } from './services/download-urls.js';
import { LiveResponseService, type LiveShellPolicy } from './services/live-response.service.js';
import { ScanPolicyService } from './services/scan-policy.service.js';
import { PackagesService } from './services/packages.service.js';
import { UsersService } from './services/users.service.js';
import { ContentFiles } from './storage/content-files.js';
import { FileStore } from './storage/file-store.js';
import { AuditService } from './services/audit.service.js';
import { AuditIntegrityService } from './services/audit-integrity.service.js';
import { CheckpointSigner } from './audit/checkpoint.js';
import { CheckpointFile } from './storage/audit-checkpoints.js';
import { AuthService } from './services/auth.service.js';
import { EnrollmentService } from './services/enrollment.service.js';
import { IsolationPolicyService } from './services/isolation-policy.service.js';
import { MachinesService } from './services/machines.service.js';
import { ReleaseTokenService } from './services/release-token.service.js';
import { TimelineService } from './services/timeline.service.js';
import type { DeviceEventsSink } from './services/device-events.service.js';
import { AlertsService } from './services/alerts.service.js';
import { AlertsRepository } from './repositories/alerts.repository.js';
import { alertsRoutes } from './routes/alerts.routes.js';
import { ResponseActionsService } from './services/response-actions.service.js';
import { defaultConsoleDir, registerConsole } from './http/console.js';

export const SERVER_VERSION = '0.1.0';
/** This process as people reading /api/health and the logs name it. */
const nodeName = `${hostname()}/${process.pid}`;
/** Held while a node makes (or finds) the keys and the first admin. */
const FIRST_START_LOCK = 'cordon/first-start';
/** Held while a node records AgentOffline for the devices no live node holds. */
const RECORD_OFFLINE_LOCK = 'cordon/record-offline';

export interface CordonServer {
  config: ServerConfig;
  app: FastifyInstance;
  gateway: AgentGateway;
  db: Db;
  keys: ServerKeys;
  services: {
    auth: AuthService;
    enrollment: EnrollmentService;
    machines: MachinesService;
    actions: ActionsService;
    agentReports: AgentReportsService;
    actionExpiry: ActionExpiryService;
    timeline: TimelineService;
    audit: AuditService;
    auditIntegrity: AuditIntegrityService;
    isolationPolicies: IsolationPolicyService;
    releaseTokens: ReleaseTokenService;
    packages: PackagesService;
    content: ContentService;
    indicators: IndicatorsService;
    rulePacks: RulePacksService;
    library: LibraryService;
    deviceGroups: DeviceGroupsService;
    users: UsersService;
    deviceEvents: DeviceEventsSink;
    alerts: AlertsService;
  };
  hub: EventHub;
  /** The admin token made on this first start, or null when the store already had tokens. */
  initialAdminToken: string | null;
  /** The password of the `admin` user made on this first start (for the console), or null. */
  initialAdminPassword: string | null;
  /** Binds both listeners; answers the real ports (a configured 0 picks a free one). */
  listen(): Promise<{ apiUrl: string; agentUrl: string; port: number; agentPort: number }>;
  close(): Promise<void>;
}

/** Opens the store and keys and wires every part of the server; nothing listens until `listen()`. */
export async function createCordonServer(config: ServerConfig, opts: { logger?: Logger; clock?: Clock; bootstrapAdmin?: boolean; catalog?: ActionCatalog; liveShellPolicy?: LiveShellPolicy; passwordCost?: number } = {}): Promise<CordonServer> {
  const catalog = opts.catalog ?? ACTION_CATALOG;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { svc: 'cordon-server' } });
  const now = opts.clock ?? systemClock;
  const db = await openStore(config);
  // Nodes sharing one store and data directory start at any moment: one makes the keys, the rest read them.
  const keys = await underStoreLock(db, FIRST_START_LOCK, () => loadOrCreateKeys(config.dataDir));
  const metrics = createMetrics();
  const hub = new EventHub();

  const tx = transactor(db);
  const auditRepo = new AuditRepository(db);
  const auditService = new AuditService(auditRepo, now);
  const timeline = new TimelineService(new TimelineRepository(db), hub, now);
  const credentials = new CredentialsRepository(db);
  const machinesRepo = new MachinesRepository(db, catalog.types());
  const revocations = new RevocationSignal();
  const auth = new AuthService(credentials, tx, auditService, now, config.accessTokenSeconds, revocations);
  // The gateway needs the machines and enrollment services; this node among the others (which
  // holds the gateway) answers their "is this agent connected?" and "disconnect it": bound late.
  const late: { node?: ClusterNode } = {};
  const alerts = new AlertsService(new AlertsRepository(db), tx, async (id) => (await machinesRepo.get(id)) !== undefined, timeline, auditService, hub, now);
  const enrollment = new EnrollmentService(credentials, machinesRepo, tx, timeline, auditService, hub, now, keys, config, catalog, () => late.node, alerts);
  const deviceGroupsRepo = new DeviceGroupsRepository(db);
  const machines = new MachinesService(machinesRepo, tx, timeline, auditService, hub, now, config.heartbeatSeconds, (id) => late.node?.isConnected(id) ?? false, catalog, async () => rankedGroups(await deviceGroupsRepo.ranked()));
  const deviceGroups = new DeviceGroupsService(deviceGroupsRepo, tx, auditService, machines, now);
  // Agents' detections and blocked executions become alerts.
  const deviceEvents: DeviceEventsSink = alerts;
  const gateway = new AgentGateway({ keys, enrollment, machines, timeline, deviceEvents, metrics, logger: logger.child({ part: 'gateway' }), heartbeatSeconds: config.heartbeatSeconds, storeAnswers: storeAnswersCached(db) });
  // Several nodes on PostgreSQL tell each other through it (LISTEN/NOTIFY); one node on SQLite has nobody to tell.
  const nodeId = randomUUID();
  const bus = config.databaseUrl ? new PostgresBus(nodeId, config.databaseUrl, db, metrics, logger.child({ part: 'cluster' })) : new LocalBus(nodeId);
  const progress = new ActionProgressBoard();
  const node = (late.node = new ClusterNode(bus, new NodesRepository(db), gateway, hub, revocations, progress, now, logger.child({ part: 'cluster' }), Boolean(config.databaseUrl)));
  gateway.trackPresence(node);
  // One signer for commands and break-glass tokens: both verify against the key agents enrolled with.
  const signer = new CommandSigner(keys.signingPrivateKeyPem);
  const isolationRepo = new IsolationRepository(db);
  const isolationPolicies = new IsolationPolicyService(isolationRepo, tx, machines, auditService, now);
  const releaseTokens = new ReleaseTokenService(tx, machines, timeline, auditService, signer, now);
  const actionsRepo = new ActionsRepository(db);
  const scanPolicies = new ScanPolicyService(new ScanPoliciesRepository(db), machines, auditService, now);
  const quarantineRepo = new QuarantineRepository(db);
  const liveHandler = new LiveResponseHandler();
  const handlers = createActionHandlers({ machines: machinesRepo, tx, timeline, audit: auditService, hub, allowLists: isolationPolicies, scanPolicies, alerts, now, quarantine: quarantineRepo, live: liveHandler });
  machines.observeInventory(handlers);
  const lifecycle = new ActionLifecycle(actionsRepo, timeline, hub, metrics, node, now, catalog, handlers, progress);
  const agentReports = new AgentReportsService(actionsRepo, tx, lifecycle, timeline, auditService, hub, metrics, node, now, logger.child({ part: 'actions' }), handlers);
  const actionExpiry = new ActionExpiryService(actionsRepo, lifecycle, now);
  const actions = new ActionsService(actionsRepo, tx, machines, timeline, auditService, hub, metrics, signer, node, now, config.actionExpirySeconds, catalog, handlers, lifecycle, agentReports);
  const responseActions = new ResponseActionsService(machines, actions, catalog, handlers);
  // What nodes sharing the store and the data directory do one at a time; one node needs only its own turns.
  const locks = config.databaseUrl ? new StoreLocks(db) : new KeyedMutex();
  const fileStore = new FileStore(join(config.dataDir, 'files', 'packages'));
  await fileStore.init();
  // Download URLs are signed with a key derived from the server's own signing key: nothing new to keep.
  const urlKey = createHash('sha256').update('cordon-download-url/v1\n').update(keys.signingPrivateKeyPem).digest();
  const downloadUrls = new DownloadUrls(urlKey);
  const packages = new PackagesService(new PackagesRepository(db), actionsRepo, lifecycle, fileStore, timeline, auditService, now, {
    retentionDays: config.packageRetentionDays,
    downloadUrlSeconds: config.downloadUrlSeconds,
    urlKey,
    maxPackageBytes: config.maxPackageBytes,
    diskReserveBytes: config.diskReserveBytes,
  }, locks);
  // Content manifests are signed with the command-signing key too: agents already hold its public half.
  const contentFiles = new ContentFiles(join(config.dataDir, 'files', 'content'));
  await contentFiles.init();
  const content = new ContentService(new ContentRepository(db), contentFiles, auditService, new ContentSigner(keys.signingPrivateKeyPem), now);
  // Every agent that keeps content hears of each new version, whichever node it is connected to.
  content.onPublished(({ kind, name, version }) => node.broadcast({ type: 'content', kind, name, version }, CONTENT_CAPABILITY));
  const indicators = new IndicatorsService(new IndicatorsRepository(db), tx, auditService, content, locks, now, logger.child({ part: 'indicators' }));
  const rulePacks = new RulePacksService(new RulePacksRepository(db), tx, auditService, content, locks, now, logger.child({ part: 'rulepacks' }));
  const libraryRepo = new LibraryRepository(db);
  const library = new LibraryService(libraryRepo, tx, auditService, content, locks, now, {
    requireSignature: config.libraryRequireSignature,
    trustedKeys: config.libraryTrustedKeys,
    maxFileBytes: config.libraryMaxFileBytes,
  });
  const quarantine = new QuarantineService(quarantineRepo, machines);
  const liveRepo = new LiveResponseRepository(db);
  const liveFileStore = new FileStore(join(config.dataDir, 'files', 'live'));
  await liveFileStore.init();
  const liveFiles = new LiveFilesService(liveRepo, liveFileStore, locks, now, config.diskReserveBytes, actionsRepo);
  const liveBatch = new LiveBatchService(libraryRepo, actionsRepo, liveFiles, auditService, downloadUrls, now, config.downloadUrlSeconds);
  // Request and sign-in counts: in memory on one node, in the store when several nodes share it.
  const counters = config.databaseUrl ? new StoreCounters(db) : new MemoryCounters();
  const liveResponse = new LiveResponseService(liveRepo, actionsRepo, actions, libraryRepo, content, auditService, hub, signer, node, now, logger.child({ part: 'live' }), {
    queueSeconds: config.liveResponseQueueSeconds,
    idleSeconds: config.liveResponseIdleSeconds,
  }, counters, opts.liveShellPolicy ?? deviceGroups);
  liveHandler.bind(liveResponse, liveBatch);
  node.attachLive(liveResponse);
  gateway.attach(agentReports, packages, content, liveResponse, liveFiles);
  // Nodes starting together, or finding the same dead node, would each write the AgentOffline:
  // one at a time, each reading what the one before wrote, so each is written once.
  const recordOffline = (held: Set<string>) => locks.exclusive(RECORD_OFFLINE_LOCK, () => machines.recordOfflineSinceLastRun(held));
  node.attach({
    deliverActions: (ids) => agentReports.deliverActions(ids),
    deliverPendingFor: (ids) => agentReports.deliverPendingFor(ids),
    recordOffline,
  });
  const users = new UsersService(new UsersRepository(db), tx, auditService, now, revocations, counters, opts.passwordCost);
  const auditIntegrity = new AuditIntegrityService(auditRepo, new CheckpointFile(join(config.dataDir, 'audit', 'checkpoints.jsonl')), new CheckpointSigner(keys.signingPrivateKeyPem), now, locks, logger.child({ part: 'audit' }));
  const bootstrap = async (): Promise<[string | null, string | null]> => (opts.bootstrapAdmin === false ? [null, null] : [await auth.bootstrapAdmin(), await users.bootstrapAdmin()]);
  const [initialAdminToken, initialAdminPassword] = await underStoreLock(db, FIRST_START_LOCK, bootstrap);

  // Every link the server builds starts here: the configured public URL, else the address it listens on.
  let listeningUrl: string | null = null;
  const publicApiUrl = () => (config.publicApiUrl ?? listeningUrl ?? `http://${urlHost(config.host)}:${config.port}`).replace(/\/+$/, '');
  const app = await createHttpApp({ auth, metrics, logger: logger.child({ part: 'api' }), bodyLimit: config.bodyLimitBytes, rateLimitPerMinute: config.rateLimitPerMinute, counters, trustProxy: config.trustProxy, users, audit: auditService });
  await registerConsole(app, config.consoleDir ?? defaultConsoleDir());
  const engine = config.databaseUrl ? ('postgres' as const) : ('sqlite' as const);
  await app.register(
    healthRoutes(metrics, async () => {
      const reachable = await storeAnswers(db);
      return { status: reachable ? 'ok' : 'degraded', connectedAgents: gateway.connectedCount, version: SERVER_VERSION, node: { id: nodeId, name: nodeName }, database: { engine, reachable } };
    }),
  );
  await app.register(oauthRoutes(auth));
  // Every /api route is also served under /api/v1.0, as MDE clients expect.
  for (const prefix of ['/api', '/api/v1.0']) {
    await app.register(machinesRoutes(machines, timeline), { prefix });
    await app.register(actionsRoutes(actions, machines, responseActions, catalog), { prefix });
    await app.register(adminRoutes(auth, enrollment, auditService, auditIntegrity), { prefix });
    await app.register(isolationRoutes(isolationPolicies, releaseTokens), { prefix });
    await app.register(packagesRoutes(packages, machines, publicApiUrl), { prefix });
    await app.register(sessionsRoutes(users), { prefix });
    await app.register(credentialsRoutes(auth, users, enrollment, machines), { prefix });
    await app.register(eventsRoutes(hub, revocations), { prefix });
    await app.register(alertsRoutes(alerts, machines, now, config.ingestRateLimitPerMinute), { prefix });
    await app.register(indicatorsRoutes(indicators), { prefix });
    await app.register(rulePacksRoutes(rulePacks), { prefix });
    await app.register(libraryRoutes(library), { prefix });
    await app.register(liveResponseRoutes(liveResponse, liveFiles, auditService), { prefix });
    await app.register(liveBatchRoutes(liveBatch, publicApiUrl), { prefix });
    await app.register(scanPoliciesRoutes(scanPolicies), { prefix });
    await app.register(quarantineRoutes(quarantine), { prefix });
    await app.register(deviceGroupsRoutes(deviceGroups), { prefix });
  }
  await app.ready();

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => Promise<unknown>) => {
    const t = setInterval(() => void fn().catch((err: unknown) => logger.error({ err }, 'periodic task failed')), ms);
    t.unref();
    timers.push(t);
  };

  const server: CordonServer = {
    config,
    app,
    gateway,
    db,
    keys,
    services: { auth, enrollment, machines, actions, agentReports, actionExpiry, timeline, audit: auditService, auditIntegrity, isolationPolicies, releaseTokens, packages, content, users, deviceEvents, alerts, indicators, rulePacks, library, deviceGroups },
    hub,
    initialAdminToken,
    initialAdminPassword,
    async listen() {
      // Actions that expired while the server was down end as TimeOut before any agent can ask for them.
      await actionExpiry.sweepExpired();
      // What each device can do follows this server's catalog, which may be newer than the store.
      await machines.refreshReadiness();
      // Join the other nodes (if any) and learn which agents they hold.
      await node.start(nodeName);
      // Agents connected to an earlier run (stopped or crashed) went offline when it did: say so in
      // their timelines; agents another live node holds are connected still.
      await recordOffline(node.heldElsewhere());
      // What expired while no node ran, or a change whose publication a crash cut short, goes out now.
      await indicators.publishExpired();
      await rulePacks.publishPending();
      const agentPort = await gateway.listen(config.agentHost, config.agentPort);
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      node.beat();
      // Nodes sharing a store all run these, at any moment: each is safe so (cluster/periodic.test.ts).
      every(5000, () => machines.flushSeen()); // this node's own heartbeats
      every(5000, () => machines.announceInactive()); // per node: tells this node's live views only
      every(10_000, () => actionExpiry.sweepExpired()); // idempotent: a conditional update; one TimeOut, one timeline row
      every(300_000, () => machines.pruneIpHistory()); // idempotent: a second delete waits on the first's row locks, finds the rows gone
      every(60_000, () => counters.prune(Date.now())); // idempotent delete
      every(3600_000, () => packages.sweepExpired()); // idempotent: files removed with force, a record marked removed again
      every(30_000, () => indicators.publishExpired()); // under a store lock, and idempotent: publishes only a set that differs from the last
      every(30_000, () => rulePacks.publishPending()); // the same, for rule packs
      auditIntegrity.start(config.auditCheckpointSeconds); // one node at a time (a store lock), each after the last one written
      listeningUrl = `http://${urlHost(config.host)}:${port}`;
      return {
        apiUrl: `http://${urlHost(config.host, '127.0.0.1')}:${port}`,
        agentUrl: config.publicAgentUrl ?? `https://${urlHost(config.agentHost, '127.0.0.1')}:${agentPort}`,
        port,
        agentPort,
      };
    },
    async close() {
      for (const t of timers) clearInterval(t);
      await gateway.close();
      await agentReports.drainAcks();
      await app.close();
      await machines.flushSeen();
      await auditIntegrity.stop();
      await node.stop();
      await db.destroy();
    },
  };
  return server;
}

/** A listen address as a URL's host; a wildcard address means `wildcard` (this machine's name unless told). */
function urlHost(host: string, wildcard = hostname()): string {
  if (host === '0.0.0.0' || host === '::') return wildcard;
  return host.includes(':') ? `[${host}]` : host;
}
