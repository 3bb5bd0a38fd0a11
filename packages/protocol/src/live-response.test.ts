import { describe, expect, it } from 'vitest';
import { liveResponse } from './actions/live-response.js';
import { LiveDoneFrame, liveLevelAllows, LiveOutputFrame, MAX_LIVE_OUTPUT_CHARS } from './live-response.js';

const ID = '0b9c4a57-3f7e-4a43-9d6c-5ad3b7a1c0de';

describe('live response protocol', () => {
  it('lets a basic session run only basic commands, and leaves unknown ones to the agent', () => {
    expect(liveLevelAllows('basic', 'ls')).toBe(true);
    expect(liveLevelAllows('basic', 'run')).toBe(false);
    expect(liveLevelAllows('basic', 'remediate')).toBe(false);
    expect(liveLevelAllows('advanced', 'run')).toBe(true);
    expect(liveLevelAllows('basic', 'nosuchcommand')).toBe(true);
  });

  it('bounds output frames and results', () => {
    expect(LiveOutputFrame.safeParse({ type: 'liveOutput', sessionId: ID, seq: 1, text: 'x'.repeat(MAX_LIVE_OUTPUT_CHARS) }).success).toBe(true);
    expect(LiveOutputFrame.safeParse({ type: 'liveOutput', sessionId: ID, seq: 1, text: 'x'.repeat(MAX_LIVE_OUTPUT_CHARS + 1) }).success).toBe(false);
    expect(LiveOutputFrame.safeParse({ type: 'liveOutput', sessionId: ID, seq: 0, text: 'x' }).success).toBe(false);
    const done = { type: 'liveDone', sessionId: ID, seq: 1, exitStatus: 0, error: null, cwd: '/', truncated: false };
    expect(LiveDoneFrame.safeParse({ ...done, data: { big: 'x'.repeat(300 * 1024) } }).success).toBe(false);
    expect(LiveDoneFrame.safeParse({ ...done, exitStatus: 256 }).success).toBe(false);
  });

  it('takes a batch or a session as the LiveResponse parameters, never both', () => {
    const params = liveResponse.parameters;
    expect(params.safeParse({ session: { level: 'basic', shell: false, idleTimeoutSeconds: 1800 } }).success).toBe(true);
    expect(params.safeParse({ commands: [{ type: 'GetFile', params: [{ key: 'Path', value: '/etc/hosts' }] }] }).success).toBe(true);
    expect(params.safeParse({ session: { level: 'root', shell: false, idleTimeoutSeconds: 1800 } }).success).toBe(false);
    expect(params.safeParse({ session: { level: 'basic', shell: false, idleTimeoutSeconds: 1800 }, commands: [] }).success).toBe(false);
  });
});
