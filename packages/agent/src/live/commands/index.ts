import type { LiveCommand } from '../types.js';
import { cd } from './cd.js';
import { connections } from './connections.js';
import { fileinfo } from './fileinfo.js';
import { findfile } from './findfile.js';
import { help } from './help.js';
import { ls } from './ls.js';
import { persistence } from './persistence.js';
import { processes } from './processes.js';
import { pwd } from './pwd.js';
import { scheduledtasks } from './scheduledtasks.js';
import { services } from './services.js';
import { trace } from './trace.js';

/** The basic (read-only) commands every session has. */
export const basicCommands: readonly LiveCommand[] = [help, cd, pwd, ls, fileinfo, findfile, processes, connections, persistence, services, scheduledtasks, trace];
