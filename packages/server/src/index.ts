export { createCordonServer, SERVER_VERSION, type CordonServer } from './server.js';
export { loadServerConfig, serverConfig, describeConfig, ConfigError, ServerConfigSchema, type ServerConfig, type ServerConfigInput } from './config.js';
export { ROLES, RANKED_ROLES, isRole, type Role } from './auth/permissions.js';
export { VERIFIED_TOKEN_MS } from './services/auth.service.js';
