import { z } from 'zod';
import type { ContentKind } from './content-kind.js';
import { RULEPACKS_CONTENT } from './rulepacks.js';

/** Indicator types, as MDE names them (CertificateThumbprint is not offered: Linux has no signed binaries to match). */
export const INDICATOR_TYPES = ['FileSha256', 'FileSha1', 'FileMd5', 'IpAddress', 'DomainName', 'Url'] as const;
export type IndicatorType = (typeof INDICATOR_TYPES)[number];

/** What happens when an indicator is seen, as MDE names it. */
export const INDICATOR_ACTIONS = ['Alert', 'AlertAndBlock', 'Allowed', 'Audit', 'Block', 'BlockAndRemediate', 'Warn'] as const;
export type IndicatorAction = (typeof INDICATOR_ACTIONS)[number];

/** The actions that ask for the indicator to be blocked. */
export const BLOCKING_INDICATOR_ACTIONS: readonly IndicatorAction[] = ['AlertAndBlock', 'Block', 'BlockAndRemediate'];

export const INDICATOR_SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;
export type IndicatorSeverity = (typeof INDICATOR_SEVERITIES)[number];

/** The signed content agents keep their indicators in. */
export const INDICATORS_CONTENT = { kind: 'indicators', name: 'default' } as const satisfies { kind: ContentKind; name: string };

/** The content every agent keeps up to date: fetched at start, when the server announces a version, and every 10 minutes. */
export const AGENT_CONTENT: readonly { kind: ContentKind; name: string }[] = [INDICATORS_CONTENT, RULEPACKS_CONTENT];

/**
 * The capability of agents that understand the server's `content` frame (and keep AGENT_CONTENT):
 * the server sends that frame only to them, so an older agent never sees a frame it does not know.
 */
export const CONTENT_CAPABILITY = 'content';

/**
 * One indicator as agents receive it. Type and action are plain text here: an agent skips an entry
 * of a type it does not know (a newer server) instead of refusing the whole set.
 */
export const IndicatorEntry = z.object({
  id: z.string(),
  value: z.string(),
  type: z.string(),
  action: z.string(),
  severity: z.string(),
  title: z.string(),
  generateAlert: z.boolean(),
  /** ISO-8601 UTC, or null: never expires. Agents drop an entry past it, offline too. */
  expirationTime: z.string().nullable(),
});
export type IndicatorEntry = z.infer<typeof IndicatorEntry>;

/** The bytes of the `indicators/default` content: JSON of this, entries ordered by id. */
export const IndicatorsContent = z.object({
  format: z.literal('cordon-indicators/v1'),
  indicators: z.array(z.unknown()),
});
export type IndicatorsContent = { format: 'cordon-indicators/v1'; indicators: IndicatorEntry[] };
