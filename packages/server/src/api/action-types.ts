import type { ActionSpec } from '@cordon/protocol';
import type { ActionTypeInfo } from './schemas.js';

/** A catalog entry as clients show and submit it (the console's bar and dialogs, scripts). */
export const actionTypeInfo = (spec: ActionSpec): ActionTypeInfo => ({
  type: spec.type,
  label: spec.label,
  path: `/api/machines/{id}/${spec.path}`,
  option: spec.option ? { field: spec.option.field, label: spec.option.label, values: [...spec.option.values], default: spec.option.default, item: spec.option.item, describe: { ...spec.option.describe } } : null,
  extras: (spec.extras ?? []).map((e) => ({ field: e.field, label: e.label, describe: e.describe, min: e.min, max: e.max })),
  describe: spec.describe ?? null,
  destructive: spec.destructive ?? false,
  cancelWhileRunning: spec.cancelWhileRunning ?? false,
  icon: spec.icon ?? null,
  barPosition: spec.barPosition ?? null,
});
