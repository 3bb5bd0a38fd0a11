export { Agent, localInventory } from './agent.js';
export { loadAgentConfig, agentConfig, AgentConfigSchema, ConfigError, type AgentConfig, type AgentConfigInput } from './config.js';
export { enroll, parseToken } from './transport/enroll.js';
export { readState } from './enrollment-state.js';
export { AGENT_VERSION } from './version.js';
export { breakGlassRelease, IsolationManager } from './modules/isolation/manager.js';
export { currentPlatform } from './platform/index.js';
export { PackageUploader, type UploadOptions } from './transport/upload.js';
