// The package's entry point (its `exports`): connect() and the rest of the TypeScript SDK of the
// control plane's operator API. The CLI is built on the same client. See docs/sdk.md.

export { connect, MyxClient, type CommandFilter, type OutputPagesOptions, type RunSpec } from './client.ts';
export { RunHandle, type EventsOptions, type RunEvent, type WaitOptions } from './run-handle.ts';
export { MyxApi, type CancelResponse, type MyxApiOptions, type SseEvent } from './api.ts';
export { MyxError, type SdkErrorCode } from './errors.ts';
export type { ConnectOptions, Connection, DataDirOptions, ServerOptions } from './connection.ts';
export type { AbortSignalLike } from './retry.ts';
export { verifyWebhookSignature, type WebhookCheck } from '../common/webhook-signature.ts';
export { WEBHOOK_EVENTS, WEBHOOK_HEADERS, WEBHOOK_TOLERANCE_SECONDS, type WebhookEventType } from '../protocol/webhooks.ts';
export type { UrlSwitch } from '../common/server-urls.ts';
export type { CommandStatus } from '../protocol/command-status.ts';
export type { ErrorCode } from '../protocol/errors.ts';
export type * from '../protocol/wire.ts';
