export { PatchbayAgent, type AliasFilter, type PatchbayAgentOptions, type Toolset } from './agent.js';
export type { Attachment, ErrorCode, ExecuteResult, ToolDefinition } from './api-types.js';
export { PatchbayError, type FieldError } from './errors.js';
export type * from './operations.js';
export type { AliasMap, ExecuteRequest, OperationName, OperationRequest, ProviderId } from './requests.js';
