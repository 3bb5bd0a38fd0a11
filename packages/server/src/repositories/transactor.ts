import { atomically, type Db } from '../db/database.js';
import { ActionsRepository } from './actions.repository.js';
import { AlertsRepository } from './alerts.repository.js';
import { AuditRepository } from './audit.repository.js';
import { CredentialsRepository } from './credentials.repository.js';
import { DeviceGroupsRepository } from './device-groups.repository.js';
import { IndicatorsRepository } from './indicators.repository.js';
import { IsolationRepository } from './isolation.repository.js';
import { LibraryRepository } from './library.repository.js';
import { LiveResponseRepository } from './live-response.repository.js';
import { MachinesRepository } from './machines.repository.js';
import { RulePacksRepository } from './rulepacks.repository.js';
import { TimelineRepository } from './timeline.repository.js';
import { UsersRepository } from './users.repository.js';

/** The repositories a unit of work may write through, all bound to the same transaction. */
export interface UnitOfWork {
  alerts: AlertsRepository;
  audit: AuditRepository;
  timeline: TimelineRepository;
  machines: MachinesRepository;
  credentials: CredentialsRepository;
  users: UsersRepository;
  isolation: IsolationRepository;
  actions: ActionsRepository;
  indicators: IndicatorsRepository;
  rulePacks: RulePacksRepository;
  library: LibraryRepository;
  liveResponse: LiveResponseRepository;
  deviceGroups: DeviceGroupsRepository;
}

/**
 * Runs `work` in one transaction: a state change, its audit record and its timeline event are
 * stored together or not at all. Services publish live events only after it resolves, so nothing
 * is announced that was not committed.
 */
export type Transactor = <T>(work: (uow: UnitOfWork) => Promise<T>) => Promise<T>;

export function transactor(db: Db): Transactor {
  const bind = (tx: Db): UnitOfWork => ({
    alerts: new AlertsRepository(tx),
    audit: new AuditRepository(tx),
    timeline: new TimelineRepository(tx),
    machines: new MachinesRepository(tx),
    credentials: new CredentialsRepository(tx),
    users: new UsersRepository(tx),
    isolation: new IsolationRepository(tx),
    actions: new ActionsRepository(tx),
    indicators: new IndicatorsRepository(tx),
    rulePacks: new RulePacksRepository(tx),
    library: new LibraryRepository(tx),
    liveResponse: new LiveResponseRepository(tx),
    deviceGroups: new DeviceGroupsRepository(tx),
  });
  return (work) => atomically(db, (tx) => work(bind(tx)));
}
