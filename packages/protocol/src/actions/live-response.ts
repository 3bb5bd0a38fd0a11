import { z } from 'zod';
import { defineAction } from './define.js';

const commands = {
  commands: z
    .array(z.strictObject({ type: z.enum(['GetFile', 'PutFile', 'RunScript']), params: z.array(z.strictObject({ key: z.string().max(256), value: z.string().max(4096) })).max(32) }))
    .min(1)
    .max(32),
};

/** MDE's `runliveresponse`: a batch of live-response commands (the interactive session comes later). */
export const liveResponse = defineAction({
  type: 'LiveResponse',
  label: 'Live response',
  verbPhrase: 'run live response commands',
  path: 'runliveresponse',
  body: commands,
  parameters: z.strictObject(commands),
  capability: 'liveResponse',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  busy: 'Live response commands are already running on this device',
});
