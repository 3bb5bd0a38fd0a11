import { z } from 'zod';
import { LiveSessionParameters } from '../live-response.js';
import { defineAction } from './define.js';

const commands = {
  commands: z
    .array(z.strictObject({ type: z.enum(['GetFile', 'PutFile', 'RunScript']), params: z.array(z.strictObject({ key: z.string().max(256), value: z.string().max(4096) })).max(32) }))
    .min(1)
    .max(32),
};

/**
 * Live response. Its body is MDE's `runliveresponse`: a batch of commands. The same action type is
 * an interactive session (parameters `{session}`), opened by `POST /api/machines/{id}/liveResponseSessions`:
 * one live response per device at a time, whichever its form.
 */
export const liveResponse = defineAction({
  type: 'LiveResponse',
  label: 'Live response',
  verbPhrase: 'run live response commands',
  path: 'runliveresponse',
  body: commands,
  parameters: z.union([z.strictObject(commands), LiveSessionParameters]),
  capability: 'liveResponse',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  /** Ending a session (or stopping a batch) while it runs. */
  cancelWhileRunning: true,
  busy: 'Live response commands are already running on this device',
});
