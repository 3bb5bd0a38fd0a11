import { destination, pino, type Logger } from 'pino';
import { logDestination, resolveLogFormat } from '@cordon/protocol/log-format';
import { ACTION_CATALOG, assertNever, CONTENT_CAPABILITY, LIVE_UPLOAD_HEADERS, PROTOCOL_VERSION, refuseStream, type DeviceEvent, type DeviceEventKind, type Inventory, type ServerFrame } from '@cordon/protocol';
import { actionsFor } from './actions/index.js';
import type { AgentConfig } from './config.js';
import { IndicatorSet } from './content/indicators.js';
import { ContentStore, type ContentFetcher } from './content/store.js';
import { ContentSync } from './content/sync.js';
import { readState, type EnrollmentState } from './enrollment-state.js';
import { Journal } from './journal.js';
import { fetchLibraryFile } from './content/library.js';
import { LiveShell } from './live/session.js';
import { RemediationRecords, remediationsFile } from './live/remediations.js';
import { LiveSessions } from './live/sessions.js';
import { createModules, moduleList, type AgentModule, type AgentModules, type ModuleReport } from './modules/index.js';
import { currentPlatform, MissingToolError, type Platform } from './platform/index.js';
import { CommandRunner } from './runner.js';
import { ServerConnection } from './transport/connection.js';
import { HttpContentFetcher } from './transport/content-fetcher.js';
import { ScanRules } from './scan/rules.js';
import { EventOutbox } from './transport/outbox.js';
import { PackageUploader } from './transport/upload.js';
import { AGENT_VERSION } from './version.js';

/** getfile sends the largest chunks the server takes (8 MiB): fewer requests, and a file, unlike a package being zipped, is at hand. */
const GETFILE_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * What this device reports about itself: the platform's description, what this agent can do (a
 * capability the device cannot use right now says why), and what each running module enforces.
 */
export async function localInventory(deviceTags: string[], platform: Platform = currentPlatform(), modules: readonly AgentModule[] = []): Promise<Inventory> {
  const capabilities = new Map<string, Inventory['capabilities'][number]>();
  for (const a of actionsFor(process.platform).values()) {
    const name = ACTION_CATALOG.get(a.type)!.capability;
    if (capabilities.has(name)) continue;
    const probed = a.probe ? await a.probe(platform) : {};
    capabilities.set(name, {
      name,
      version: a.capabilityVersion,
      ...(probed.provider ? { provider: probed.provider.slice(0, 64) } : {}),
      ...(probed.unavailable ? { unavailable: probed.unavailable.slice(0, 256) } : {}),
    });
  }
  // Not an action: this agent keeps signed content (indicators) and understands the server's content frame.
  capabilities.set(CONTENT_CAPABILITY, { name: CONTENT_CAPABILITY, version: '1' });
  return {
    ...(await platform.describe()),
    agentVersion: AGENT_VERSION,
    capabilities: [...capabilities.values()],
    deviceTags,
    ...modules.reduce<ModuleReport>((all, m) => ({ ...all, ...m.report() }), {}),
  };
}

/** The agent daemon: one connection, one runner, one journal, one event outbox, and the modules it keeps in force. */
export class Agent {
  readonly #logger: Logger;
  readonly #platform: Platform;
  readonly #runner: CommandRunner;
  readonly #connection: ServerConnection;
  readonly #journal: Journal;
  readonly #modules: AgentModules;
  readonly #events: EventOutbox;
  readonly #rules: ScanRules;
  readonly #indicators: IndicatorSet;
  readonly #content: ContentSync;
  readonly #live: LiveSessions;
  #watch?: NodeJS.Timeout;
  #eventPump?: NodeJS.Timeout;
  /** Welcomed on the current connection: before that, the server takes nothing but hello. */
  #welcomed = false;
  #heartbeat?: NodeJS.Timeout;
  #prune?: NodeJS.Timeout;
  #seq = 0;
  #heartbeatSeconds = 30;

  constructor(private readonly config: AgentConfig, opts: { logger?: Logger; platform?: Platform } = {}) {
    const state = readState(config.dataDir);
    if (!state) throw new Error(`This agent is not enrolled (no ${config.dataDir}/enrollment.json); run \`cordon agent enroll --server URL --token T\` first`);
    // Logs go to stderr (readable lines on a terminal, JSON otherwise); stdout stays for what scripts read.
    const format = resolveLogFormat(config.logFormat, process.stderr.isTTY);
    this.#logger = opts.logger ?? pino({ level: config.logLevel, base: { svc: 'cordon-agent', machineId: state.machineId } }, logDestination(format, destination(2)));
    this.#platform = opts.platform ?? currentPlatform();
    this.#journal = new Journal(config.dataDir);
    // A rule-pack bundle this agent's YARA cannot compile is refused before it is installed.
    const contentStore = new ContentStore(config.dataDir, state.signingPublicKeyPem, this.#contentFetcher(state), { rulepack: ScanRules.check });
    this.#indicators = new IndicatorSet(contentStore);
    this.#rules = new ScanRules(contentStore);
    this.#content = new ContentSync(contentStore, this.#indicators, this.#logger.child({ part: 'content' }), { rules: this.#rules });
    this.#modules = createModules({ dataDir: config.dataDir, platform: this.#platform, enrollment: state, config, logger: this.#logger, indicators: this.#indicators, reportEvent: (kind, data) => void this.reportEvent(kind, data), reportChanged: () => void this.#sendInventory() });
    this.#events = new EventOutbox(config.dataDir);
    /*
     * Live frames are best-effort: ServerConnection.send drops a frame while disconnected (answers
     * false). A line running across a disconnect keeps running, but its output and end may be lost;
     * the server ends such a line itself ("the device went offline"). The session action stays
     * open: the server delivers it again on reconnect and the runner acks it as still running.
     */
    const scanSettings = {
      cpuPercent: config.scanCpuPercent,
      maxFileBytes: config.scanMaxFileMb * 1024 * 1024,
      roots: config.scanRoots,
      exclude: config.scanExclude,
      networkMounts: config.scanNetworkMounts,
      clamav: { mode: config.scanClamav, databaseDir: config.scanClamavDatabaseDir, clamdSocket: config.scanClamdSocket },
    };
    const liveLogger = this.#logger.child({ part: 'live' });
    // One set of remediation records for every shell: `undo` in a later session (or after a restart) finds what an earlier one did.
    const remediations = new RemediationRecords(remediationsFile(config.dataDir), (message) => liveLogger.error(message));
    this.#live = new LiveSessions({
      machineId: state.machineId,
      signingPublicKeyPem: state.signingPublicKeyPem,
      now: () => new Date(),
      send: (f) => this.#connection.send(f),
      createShell: (level, settings) =>
        new LiveShell({
          level,
          shellAllowed: settings.shell,
          platform: this.#platform,
          dataDir: config.dataDir,
          cronRoots: config.liveCronRoots,
          remediations,
          // analyze: the antivirus scan's engines and content, caught up to what the server names first.
          scanning: { rules: this.#rules, indicators: this.#indicators, settings: scanSettings, catchUp: (refs) => this.#content.catchUp(refs) },
          fetchLibrary: (ref) => fetchLibraryFile(contentStore, ref),
          // getfile: the investigation packages' resumable upload path, each request naming its line and file.
          uploadFile: async (line, transfer, source, onProgress, signal) => {
            const headers = { [LIVE_UPLOAD_HEADERS.line]: `${line.sessionId}/${line.seq}`, [LIVE_UPLOAD_HEADERS.path]: Buffer.from(transfer.path).toString('base64url'), [LIVE_UPLOAD_HEADERS.size]: String(transfer.size) };
            const sent = await new PackageUploader({ ...state, serverUrls: this.#connection.serverUrls() }, { signal, onProgress, headers, chunkBytes: GETFILE_CHUNK_BYTES }).upload(transfer.transferId, source);
            return { size: sent.size, sha256: sent.sha256, resumed: sent.heldAtStart };
          },
        }),
      logger: liveLogger,
    });
    this.#runner = new CommandRunner({
      journal: this.#journal,
      actions: actionsFor(process.platform),
      platform: this.#platform,
      machineId: state.machineId,
      signingPublicKeyPem: state.signingPublicKeyPem,
      logger: this.#logger,
      now: () => new Date(),
      delayMs: config.actionDelayMs,
      modules: this.#modules,
      dataDir: config.dataDir,
      walkRoots: { temp: config.packageTempDirs, programs: config.packageProgramDirs },
      scanning: {
        rules: this.#rules,
        indicators: this.#indicators,
        reportEvent: (kind, data) => this.reportEvent(kind, data),
        settings: scanSettings,
      },
      // Uploads go to the node this agent is connected to, then to the others.
      live: this.#live,
      upload: (actionId, source, opts) => new PackageUploader({ ...state, serverUrls: this.#connection.serverUrls() }, opts).upload(actionId, source),
      send: (f) => this.#connection.send(f),
      sendInventory: () => this.#sendInventory(),
    });
    this.#connection = new ServerConnection(
      state,
      {
        onOpen: () => void this.#hello(),
        onFrame: (f) => this.#onFrame(f),
        onClose: () => {
          this.#welcomed = false;
          this.#runner.dropQueued();
          clearInterval(this.#heartbeat);
          clearInterval(this.#eventPump);
        },
      },
      this.#logger,
      {
        reconnectMaxSeconds: config.reconnectMaxSeconds,
        pingSeconds: config.heartbeatSeconds ?? 30,
        credentialRetrySeconds: config.credentialRetrySeconds,
        returnHomeSeconds: { min: config.returnHomeSeconds / 4, max: config.returnHomeSeconds },
      },
    );
  }

  /** The indicators this device applies (kept up to date from the server; expiry applies offline too). */
  get indicators(): IndicatorSet {
    return this.#indicators;
  }

  /** Content comes from the node this agent is connected to, then the others. */
  #contentFetcher(state: EnrollmentState): ContentFetcher {
    const fetcher = () => new HttpContentFetcher({ ...state, serverUrls: this.#connection.serverUrls() });
    return { manifest: (kind, name) => fetcher().manifest(kind, name), bytes: (manifest, offset) => fetcher().bytes(manifest, offset) };
  }

  async inventory(): Promise<Inventory> {
    return localInventory(this.config.tags, this.#platform, moduleList(this.#modules));
  }

  /** Starts the agent. Every module's journaled enforcement is back in force before anything else, even connecting. */
  async start(): Promise<void> {
    for (const m of moduleList(this.#modules)) {
      try {
        await m.restore();
      } catch (err) {
        // The watchdog retries: one module failing must not keep the others (or the agent) down.
        this.#failed(err, `could not restore ${m.name} from the journal; will retry`);
      }
    }
    // One watchdog for all modules; its period is the isolation setting (the first module) for compatibility.
    this.#watch = setInterval(() => void this.#watchModules(), this.config.isolationWatchSeconds * 1000);
    const lost = this.#runner.recoverInterrupted();
    if (lost) this.#logger.warn({ count: lost }, 'reported actions interrupted by the last stop');
    this.#journal.prune(new Date());
    this.#prune = setInterval(() => this.#journal.prune(new Date()), 3600_000);
    this.#prune.unref();
    // The indicators installed before are in use at once; newer ones are fetched alongside connecting.
    this.#content.start();
    this.#connection.start();
  }

  /** Queues an event durably; it goes to the server as soon as the connection and the frame budget allow, until acknowledged. */
  reportEvent(kind: DeviceEventKind, data: Record<string, unknown>, occurredAt = new Date()): DeviceEvent {
    const dropped = this.#events.dropped;
    const event = this.#events.add(kind, data, occurredAt);
    if (this.#events.dropped > dropped) this.#logger.warn({ dropped: this.#events.dropped - dropped }, 'the event outbox is full; dropped the oldest events');
    this.#flushEvents();
    return event;
  }

  #flushEvents(): void {
    if (this.#welcomed) this.#events.flush((f) => this.#connection.send(f));
  }

  async stop(): Promise<void> {
    // Live lines stop with the agent (a getfile's transfer resumes when the file is fetched again).
    for (const sessionId of this.#live.sessionIds()) this.#live.close({ sessionId, reason: 'AgentRestarted' });
    clearInterval(this.#heartbeat);
    clearInterval(this.#eventPump);
    clearInterval(this.#prune);
    clearInterval(this.#watch);
    this.#content.stop();
    for (const m of moduleList(this.#modules)) {
      try {
        await m.stop();
      } catch (err) {
        this.#logger.error({ err }, `stopping ${m.name} failed`);
      }
    }
    await this.#connection.stop();
    this.#journal.close();
  }

  /** Rules flushed or the server moved: each module repairs itself; a change made on the device (break-glass): tell the server. */
  async #watchModules(): Promise<void> {
    let changed = false;
    for (const m of moduleList(this.#modules)) {
      try {
        if (await m.check()) changed = true;
      } catch (err) {
        this.#failed(err, `checking ${m.name} failed`);
      }
    }
    if (changed) await this.#sendInventory();
  }

  /** Tells the server how the device stands now, if connected (a reconnect's hello tells it anyway). */
  async #sendInventory(): Promise<void> {
    try {
      this.#connection.send({ type: 'inventory', inventory: await this.inventory() });
    } catch (err) {
      this.#logger.error({ err }, 'could not describe this device for the server');
    }
  }

  /** A tool missing on this device is expected: one warning line saying what to install. Anything else is a bug: its stack. */
  #failed(err: unknown, what: string): void {
    if (err instanceof MissingToolError) this.#logger.warn(`${what}: ${err.message}`);
    else this.#logger.error({ err }, what);
  }

  async #hello(): Promise<void> {
    try {
      this.#connection.send({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: await this.inventory() });
    } catch (err) {
      // Without a hello the server drops the connection and the agent reconnects: a retry, not a crash.
      this.#logger.error({ err }, 'could not describe this device for the server');
    }
  }

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        this.#heartbeatSeconds = this.config.heartbeatSeconds ?? frame.heartbeatSeconds;
        this.#connection.setPingSeconds(this.#heartbeatSeconds);
        clearInterval(this.#heartbeat);
        this.#heartbeat = setInterval(() => this.#connection.send({ type: 'heartbeat', seq: this.#seq++ }), this.#heartbeatSeconds * 1000);
        // Results that could not be sent while offline (or before a restart) go out now.
        this.#runner.flushOutbox();
        // Events too, at the outbox's pace: a long backlog goes out over several seconds.
        this.#welcomed = true;
        this.#events.reconnected();
        this.#flushEvents();
        clearInterval(this.#eventPump);
        this.#eventPump = setInterval(() => this.#flushEvents(), 1000);
        this.#eventPump.unref();
        return;
      case 'command':
        void this.#runner.handle(frame.command).catch((err: unknown) => this.#logger.error({ err }, 'command handling failed'));
        return;
      case 'cancel':
        this.#runner.cancel(frame.actionId);
        return;
      case 'resultAck':
        this.#runner.resultAcknowledged(frame.actionId);
        return;
      case 'eventAck':
        this.#events.acknowledged(frame.eventId);
        return;
      case 'content':
        void this.#content.announced(frame.kind, frame.name, frame.version);
        return;
      case 'liveCommand':
        this.#live.command(frame);
        return;
      case 'liveInput':
        this.#live.input(frame);
        return;
      case 'liveCancel':
        this.#live.cancel(frame);
        return;
      case 'liveClose':
        this.#live.close(frame);
        return;
      case 'liveComplete':
        this.#live.complete(frame);
        return;
      case 'streamOpen':
      case 'streamData':
      case 'streamCredit':
      case 'streamClose': {
        // No feature uses streams yet (live lines travel in live frames): the server's stream is closed, the connection kept.
        const answer = refuseStream(frame, 'this agent takes no streams yet (no file-transfer sessions)');
        if (answer) this.#connection.send(answer);
        return;
      }
      default:
        return assertNever(frame);
    }
  }
}
