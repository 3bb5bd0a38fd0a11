export { CordonClient, ApiRequestError, type Machine, type MachineAction, type TimelineEvent } from './api-client.js';
export { buildProgram, main } from './main.js';
