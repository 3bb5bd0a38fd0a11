import type { Collector } from '../types.js';
import { autoruns } from './autoruns.js';
import { installedPrograms } from './installed-programs.js';
import { networkConnections } from './network-connections.js';
import { processes } from './processes.js';
import { recentExecutions } from './recent-executions.js';
import { scheduledTasksCollector } from './scheduled-tasks.js';
import { securityEventLog } from './security-event-log.js';
import { services } from './services.js';
import { smbSessions } from './smb-sessions.js';
import { supportLogs } from './support-logs.js';
import { systemInformation } from './system-information.js';
import { tempDirectories } from './temp-directories.js';
import { usersAndGroups } from './users-and-groups.js';

/** Every folder of the Linux investigation package, in the order the zip lists them. */
export const LINUX_COLLECTORS: Collector[] = [
  autoruns,
  installedPrograms,
  networkConnections,
  recentExecutions,
  processes,
  scheduledTasksCollector,
  securityEventLog,
  services,
  smbSessions,
  systemInformation,
  tempDirectories,
  usersAndGroups,
  supportLogs,
];
