import type { Logger } from 'pino';
import { BUILT_IN_RULEPACK, MAX_RULEPACK_BYTES, RulePackName, RULEPACKS_CONTENT, sha256Hex, type RulePacksContent } from '@cordon/protocol';
import { builtInRules, compileRules, countRules, problemsOf, RulesCompileError, type RuleProblem } from '@cordon/protocol/yara';
import type { RulePackDetailView, RulePackView } from '../api/schemas.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { RulePackRow, RulePacksRepository } from '../repositories/rulepacks.repository.js';
import type { Transactor } from '../repositories/transactor.js';
import type { AuditService } from './audit.service.js';
import type { ContentService } from './content.service.js';
import type { Locks } from './counters.js';

/** Held (on every node) while the packs agents get are read and published. */
const PUBLISH_LOCK = 'rulepacks/publish';

/** A rule pack that does not compile: 400 with every compiler error in `details`. */
export class InvalidRulePackError extends BadRequestError {
  constructor(
    what: string,
    readonly problems: RuleProblem[],
  ) {
    super(`${what}: ${new RulesCompileError(problems).message}`, 'source', 'InvalidRulePack');
  }
  override toBody() {
    const body = super.toBody();
    const at = (p: RuleProblem) => `source${p.line === null ? '' : `:${p.line}${p.column === null ? '' : `:${p.column}`}`}`;
    return { error: { ...body.error, details: this.problems.map((p) => ({ code: p.code, message: `${p.pack}: ${p.message}`, target: at(p) })) } };
  }
}

export interface RulePackUpload {
  name: string;
  description?: string | null;
  source: string;
  comment?: string | null;
}

/**
 * YARA rule packs for scans. Admins upload them by name; each upload is checked by the compiler
 * agents use, alone and together with the built-in pack and every other pack in force (rule names
 * are shared), and becomes the name's next version. After every change the packs in force are
 * published as one signed bundle (`rulepack/default`) that agents compile and keep while it works.
 */
export class RulePacksService {
  readonly #builtIn = { name: BUILT_IN_RULEPACK, source: builtInRules() };

  constructor(
    private readonly repo: RulePacksRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly content: ContentService,
    private readonly locks: Locks,
    private readonly now: Clock,
    private readonly logger: Logger,
  ) {}

  /** The built-in pack, then the uploaded packs in force, by name. */
  async list(): Promise<RulePackView[]> {
    return [this.#builtInView(), ...(await this.repo.current()).map(view)];
  }

  /** One pack with its source and every version. */
  async get(name: string): Promise<RulePackDetailView> {
    if (name === BUILT_IN_RULEPACK) return { ...this.#builtInView(), source: this.#builtIn.source, versions: [] };
    const versions = await this.repo.versions(name);
    const current = versions[0];
    if (!current || current.deleted_at !== null) throw new NotFoundError('Rule pack', name.slice(0, 64));
    return { ...view(current), source: current.source, versions: versions.map(versionView) };
  }

  /**
   * Stores an upload as the next version of its name, unless it is the version in force already
   * (answered as it is, `created: false`). Nothing is stored when it does not compile.
   */
  async upload(principal: Principal, input: RulePackUpload): Promise<{ pack: RulePackDetailView; created: boolean }> {
    const name = RulePackName.safeParse(input.name);
    if (!name.success) throw new BadRequestError(`name: ${JSON.stringify(String(input.name).slice(0, 80))} ${name.error.issues[0]!.message}`, 'name');
    if (name.data.toLowerCase() === BUILT_IN_RULEPACK) throw new BadRequestError(`name: ${BUILT_IN_RULEPACK} is the built-in pack's name; choose another`, 'name');
    const size = Buffer.byteLength(input.source);
    if (size > MAX_RULEPACK_BYTES) throw new BadRequestError(`source: a rule pack may be at most ${MAX_RULEPACK_BYTES} bytes; this one is ${size}`, 'source');
    if (input.source.trim() === '') throw new BadRequestError('source: the rule pack is empty; send YARA rules', 'source');
    const pack = { name: name.data, source: input.source };
    const alone = problemsOf(pack);
    if (alone.length > 0) throw new InvalidRulePackError('The rule pack does not compile', alone);
    const sha256 = sha256Hex(Buffer.from(input.source));
    const time = this.now().toISOString();

    const stored = await this.tx(async (u) => {
      await u.rulePacks.lockWrites();
      const inForce = await u.rulePacks.current();
      const same = inForce.find((r) => r.name === pack.name);
      if (same && same.sha256 === sha256 && same.description === (input.description ?? null)) return { row: same, created: false };
      try {
        compileRules([this.#builtIn, ...inForce.filter((r) => r.name !== pack.name), pack]);
      } catch (e) {
        if (e instanceof RulesCompileError) throw new InvalidRulePackError('The rule pack does not compile with the packs in force', e.problems);
        throw e;
      }
      const row = await u.rulePacks.insertNext({
        name: pack.name,
        description: input.description ?? null,
        source: input.source,
        sha256,
        size,
        rule_count: countRules(input.source),
        uploaded_by: principal.name,
        uploaded_at: time,
      });
      await u.audit.append([
        this.audit.row(
          { actor: principal.name, action: 'UploadRulePack', targetType: 'rulepack', targetId: row.name, comment: input.comment ?? null, outcome: 'Succeeded', detail: { version: row.version, sha256, size, ruleCount: row.rule_count, previous: same?.version ?? null } },
          time,
        ),
      ]);
      return { row, created: true };
    });
    if (stored.created) await this.#after(principal.name);
    return { pack: await this.get(stored.row.name), created: stored.created };
  }

  /** Deletes a pack (every version): agents stop using it at the next publication. */
  async remove(principal: Principal, name: string, comment: string | null = null): Promise<void> {
    if (name === BUILT_IN_RULEPACK) throw new BadRequestError(`${BUILT_IN_RULEPACK} is built into every agent and cannot be deleted`, 'name');
    const time = this.now().toISOString();
    await this.tx(async (u) => {
      await u.rulePacks.lockWrites();
      const current = (await u.rulePacks.current()).find((r) => r.name === name);
      if (!current) throw new NotFoundError('Rule pack', name.slice(0, 64));
      await u.rulePacks.markDeleted(name, principal.name, time);
      await u.audit.append([this.audit.row({ actor: principal.name, action: 'DeleteRulePack', targetType: 'rulepack', targetId: name, comment, outcome: 'Succeeded', detail: { version: current.version, sha256: current.sha256 } }, time)]);
    });
    await this.#after(principal.name);
  }

  /**
   * Publishes the packs in force for agents unless that is what was published last; one node at a
   * time, each reading the committed packs inside the lock. Answers the version published, or null.
   */
  async publish(actor: string, comment: string | null = null): Promise<number | null> {
    const { kind, name } = RULEPACKS_CONTENT;
    return this.locks.exclusive(PUBLISH_LOCK, async () => {
      const rows = await this.repo.current();
      const bundle: RulePacksContent = { format: 'cordon-rulepacks/v1', packs: rows.map((r) => ({ name: r.name, version: Number(r.version), sha256: r.sha256, source: r.source })) };
      const bytes = Buffer.from(JSON.stringify(bundle));
      const latest = await this.content.latest(kind, name);
      if (latest ? latest.manifest.sha256 === sha256Hex(bytes) : rows.length === 0) return null;
      return (await this.content.publish(kind, name, bytes, actor, comment)).manifest.version;
    });
  }

  /** At start and periodically: a change whose publication failed or was cut short goes out. */
  async publishPending(): Promise<number | null> {
    return this.publish('system', 'periodic check: the rule packs in force were not published yet');
  }

  /** After a committed change. The change stands if publishing fails (a full disk): the periodic check retries. */
  async #after(actor: string): Promise<void> {
    await this.publish(actor).catch((err: unknown) => this.logger.error({ err }, 'publishing the rule packs failed; the periodic check retries'));
  }

  #builtInView(): RulePackView {
    const { source } = this.#builtIn;
    return { name: BUILT_IN_RULEPACK, version: null, description: "Cordon's built-in rules, in every agent", sha256: sha256Hex(Buffer.from(source)), size: Buffer.byteLength(source), ruleCount: countRules(source), uploadedBy: null, uploadedAt: null, builtIn: true };
  }
}

const view = (r: RulePackRow): RulePackView => ({
  name: r.name,
  version: Number(r.version),
  description: r.description,
  sha256: r.sha256,
  size: Number(r.size),
  ruleCount: Number(r.rule_count),
  uploadedBy: r.uploaded_by,
  uploadedAt: r.uploaded_at,
  builtIn: false,
});

const versionView = (r: RulePackRow) => ({
  version: Number(r.version),
  sha256: r.sha256,
  size: Number(r.size),
  ruleCount: Number(r.rule_count),
  uploadedBy: r.uploaded_by,
  uploadedAt: r.uploaded_at,
  deletedBy: r.deleted_by,
  deletedAt: r.deleted_at,
});
