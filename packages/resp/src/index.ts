export {
  RespParser,
  RespProtocolError,
  splitInlineArgs,
  ARG_OVERHEAD_BYTES,
  DEFAULT_MAX_ARGS,
  DEFAULT_MAX_INLINE_BYTES,
  UNAUTHENTICATED_MAX_ARGS,
  UNAUTHENTICATED_MAX_BULK_BYTES,
  type RespParserLimits,
} from './resp-parser.js';
export { reply, ReplyWriter, encodeReply, type RespReply, type RespProtocol } from './resp-reply.js';
export { type RespBackend, type RespStoredValue, type RespScanPage } from './resp-backend.js';
export { InMemoryRespBackend, type InMemoryRespBackendOptions } from './in-memory-resp-backend.js';
export {
  COMMANDS,
  REDIS_VERSION,
  accessRefusal,
  errorReply,
  type CommandCall,
  type CommandSpec,
  type ClientSession,
  type ServerContext,
} from './commands.js';
export { startRespServer, type RespBoundEvent, type RespServerOptions, type RunningRespServer } from './resp-server.js';
export { DEFAULT_RESP_SERVER_LIMITS, respServerLimits } from './defaults.js';
export { CoordinatorRespBackend, type RespCoordinator } from './coordinator-resp-backend.js';
