import type { Machine, MachineAction, ResponseActionAvailability } from '@cordon/api-client';
import { Alert, Button, Group, List, Modal, NumberInput, SegmentedControl, Stack, Text, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { api, keys, messageOf, ok } from '../api';
import { forDevice, useActionLabel } from '../action-types';
import { NotCovered } from './Restriction';
import { statusLabel } from './StateBadges';

export interface DialogRequest {
  /** The bar's entry: the action's label, endpoint, options and what it does come from the server's catalog. */
  action: ResponseActionAvailability;
  /** The option picked from the bar's menu (Full/Selective isolation, Quick/Full scan). */
  option?: string;
}

/** Submits one response action to the endpoint the catalog names, with its option, the extras given and the fields the page fixed, in their body fields. */
function submit(machineId: string, action: ResponseActionAvailability, comment: string, option: string | undefined, extras: Record<string, number | string>): Promise<MachineAction> {
  if (!action.path) return Promise.reject(new Error(`${action.label}: this Cordon server does not offer it yet`));
  const body: Record<string, string | number> = { ...extras, comment };
  if (action.option && option) body[action.option.field] = option;
  // The path comes from the server's catalog, so it is not one the generated types know by name.
  return ok(api.POST(action.path as '/api/machines/{id}/unisolate', { params: path(machineId), body: body as { comment: string } }));
}

const path = (id: string) => ({ path: { id } });

const usePolicy = (machineId: string, enabled: boolean) =>
  useQuery({ queryKey: keys.isolationPolicy(machineId), enabled, queryFn: () => ok(api.GET('/api/machines/{id}/isolationPolicy', { params: path(machineId) })) });

function SelectivePolicy({ machineId }: { machineId: string }) {
  const policy = usePolicy(machineId, true);
  if (policy.isPending) return <Text size="sm">Loading the selective policy…</Text>;
  if (policy.error) return <Text size="sm" c="red">{messageOf(policy.error)}</Text>;
  if (policy.data.allow.length === 0) {
    return (
      <Alert color="yellow" data-testid="no-selective-policy">
        No selective-isolation policy applies to this device, so Selective isolation cannot be used: an admin defines one first (global or for one of its tags, with `cordon isolation-policy` or /api/isolationPolicies), or choose Full.
      </Alert>
    );
  }
  return (
    <Stack gap={4}>
      <Text size="sm">Still allowed, from {policy.data.policies.join(', ')}:</Text>
      <List size="sm" data-testid="selective-allow-list">
        {policy.data.allow.map((a, i) => (
          <List.Item key={i}>
            {'destination' in a ? `destination ${a.destination}` : 'program' in a ? `program ${a.program}` : `unit ${a.unit}`}
            {a.description ? ` — ${a.description}` : ''}
          </List.Item>
        ))}
      </List>
    </Stack>
  );
}

function WhatHappens({ action, option, machine }: { action: ResponseActionAvailability; option: string | undefined; machine: Machine }) {
  const text = action.option && option ? action.option.describe[option] : action.describe;
  const sentence = text ? <Text size="sm">{forDevice(text, machine.computerDnsName)}</Text> : null;
  // What a Selective isolation keeps open depends on the device's policy: show it before anyone submits.
  if (action.action === 'Isolate' && option === 'Selective') {
    return (
      <Stack gap="xs">
        {sentence}
        <SelectivePolicy machineId={machine.id} />
      </Stack>
    );
  }
  // A restriction stops program starts, not everything that runs code: say so before anyone relies on it.
  if (action.action === 'RestrictCodeExecution') {
    return (
      <Stack gap="xs">
        {sentence}
        <NotCovered />
      </Stack>
    );
  }
  return sentence;
}

/**
 * The dialog of one response action: what it will do, its options, and the comment it requires.
 * A page that acts on one thing (a file's hash, a vault item) fixes its body `fields` and shows
 * what it is in `children`; `onSubmitted` hears of the action submitted.
 */
export function ActionDialog({ machine, request, onClose, fields = {}, children, onSubmitted }: { machine: Machine; request: DialogRequest; onClose: () => void; fields?: Record<string, string>; children?: ReactNode; onSubmitted?: (action: MachineAction) => void }) {
  const action = request.action;
  const [option, setOption] = useState(request.option ?? action.option?.default);
  const [comment, setComment] = useState('');
  // Extras left empty are left out: the device applies its default.
  const [extras, setExtras] = useState<Record<string, number | string>>({});
  const given = Object.fromEntries(Object.entries(extras).filter((e): e is [string, number] => typeof e[1] === 'number'));
  const outOfRange = (x: ResponseActionAvailability['extras'][number]) => typeof given[x.field] === 'number' && (given[x.field]! < x.min || given[x.field]! > x.max);
  const extraOutOfRange = action.extras.some(outOfRange);
  const queryClient = useQueryClient();
  // The server refuses a Selective isolation no policy applies to: so does the dialog, before the comment is sent.
  const selective = action.action === 'Isolate' && option === 'Selective';
  const policy = usePolicy(machine.id, selective);
  const blocked = selective && (policy.isPending || (policy.data?.allow.length ?? 0) === 0);
  const title = `${action.label}${action.option ? ` (${option})` : ''}`;
  const actionLabel = useActionLabel();
  const run = useMutation({
    mutationFn: () => submit(machine.id, action, comment.trim(), option, { ...given, ...fields }),
    onSuccess: (a) => {
      onSubmitted?.(a);
      notifications.show({ color: 'green', title: `${actionLabel(a.type)} submitted`, message: `${machine.computerDnsName}: ${statusLabel(a.status)}. Follow it in the Action center.` });
      for (const k of [keys.actions(), keys.machine(machine.id), keys.responseActions(machine.id), keys.timeline(machine.id), keys.quarantine(machine.id)]) void queryClient.invalidateQueries({ queryKey: k });
      onClose();
    },
  });

  return (
    <Modal opened onClose={onClose} title={`${title} — ${machine.computerDnsName}`} size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (comment.trim() && !blocked && !extraOutOfRange) run.mutate();
        }}
      >
        <Stack>
          {action.option && <SegmentedControl aria-label={action.option.label} value={option} onChange={setOption} data={action.option.values} />}
          <WhatHappens action={action} option={option} machine={machine} />
          {children}
          {action.extras.map((x) => (
            <NumberInput
              key={x.field}
              label={x.label}
              description={x.describe}
              placeholder="The device's default"
              min={x.min}
              max={x.max}
              allowDecimal={false}
              allowNegative={false}
              clampBehavior="none"
              value={extras[x.field] ?? ''}
              onChange={(v) => setExtras((prev) => ({ ...prev, [x.field]: v }))}
              error={outOfRange(x) ? `From ${x.min} to ${x.max}, or empty for the device's default` : undefined}
              styles={{ wrapper: { maxWidth: 200 } }}
              data-extra={x.field}
            />
          ))}
          <Textarea
            label="Comment"
            description="Required: say why. It is shown in the Action center and kept in the audit log."
            required
            data-autofocus
            autosize
            minRows={3}
            maxLength={4000}
            value={comment}
            onChange={(e) => setComment(e.currentTarget.value)}
          />
          {run.error && (
            <Alert color="red" role="alert" data-testid="action-error">
              {messageOf(run.error)}
            </Alert>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={run.isPending} disabled={!comment.trim() || blocked || extraOutOfRange} color={action.destructive ? 'red' : undefined}>
              {action.label}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
