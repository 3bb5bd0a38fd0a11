import type { LiveCommand } from '../types.js';
import { analyze } from './analyze.js';
import { cd } from './cd.js';
import { connections } from './connections.js';
import { fileinfo } from './fileinfo.js';
import { findfile } from './findfile.js';
import { getfile } from './getfile.js';
import { help } from './help.js';
import { cancel, fg, jobs } from './jobs.js';
import { ls } from './ls.js';
import { persistence } from './persistence.js';
import { processes } from './processes.js';
import { putfile } from './putfile.js';
import { pwd } from './pwd.js';
import { remediate, undo } from './remediate.js';
import { run } from './run.js';
import { scheduledtasks } from './scheduledtasks.js';
import { services } from './services.js';
import { shell } from './shell.js';
import { trace } from './trace.js';

/** The basic (read-only) commands every session has. */
export const basicCommands: readonly LiveCommand[] = [help, cd, pwd, ls, fileinfo, findfile, getfile, analyze, processes, connections, persistence, services, scheduledtasks, jobs, fg, cancel, trace];

/** The advanced commands, which change the device: only an advanced session runs them. */
export const advancedCommands: readonly LiveCommand[] = [putfile, run, remediate, undo, shell];

/** Every command a session knows; its level decides which it runs. */
export const liveCommands: readonly LiveCommand[] = [...basicCommands, ...advancedCommands];
