import type { Machine, MachineAction } from '@cordon/api-client';
import { Alert, Button, Group, List, Modal, SegmentedControl, Stack, Text, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { api, keys, messageOf, ok } from '../api';
import { actionLabel } from '@cordon/protocol/labels';

export interface DialogRequest {
  action: string;
  /** Isolation type (Full/Selective) or scan type (Quick/Full) picked from the bar's menu. */
  option?: string;
}

const path = (id: string) => ({ path: { id } });

/** Submits one response action; each has its own endpoint and body in the API. */
function submit(machineId: string, action: string, comment: string, option: string): Promise<MachineAction> {
  const params = path(machineId);
  switch (action) {
    case 'Isolate':
      return ok(api.POST('/api/machines/{id}/isolate', { params, body: { comment, isolationType: option as 'Full' | 'Selective' } }));
    case 'Unisolate':
      return ok(api.POST('/api/machines/{id}/unisolate', { params, body: { comment } }));
    case 'CollectInvestigationPackage':
      return ok(api.POST('/api/machines/{id}/collectInvestigationPackage', { params, body: { comment } }));
    case 'RunAntiVirusScan':
      return ok(api.POST('/api/machines/{id}/runAntiVirusScan', { params, body: { comment, scanType: option as 'Quick' | 'Full' } }));
    case 'RestrictCodeExecution':
      return ok(api.POST('/api/machines/{id}/restrictCodeExecution', { params, body: { comment } }));
    case 'UnrestrictCodeExecution':
      return ok(api.POST('/api/machines/{id}/unrestrictCodeExecution', { params, body: { comment } }));
    default:
      return Promise.reject(new Error(`${action} is not offered by this server yet`));
  }
}

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

function whatHappens(action: string, option: string, machine: Machine): ReactNode {
  switch (action) {
    case 'Isolate':
      return option === 'Selective' ? (
        <Stack gap="xs">
          <Text size="sm">
            {machine.computerDnsName} is cut off from the network except Cordon and the destinations, programs and services its selective policy allows. Its users are notified.
          </Text>
          <SelectivePolicy machineId={machine.id} />
        </Stack>
      ) : (
        <Text size="sm">{machine.computerDnsName} is cut off from every network connection except Cordon, so you can keep responding. Open connections are cut. Its users are notified.</Text>
      );
    case 'Unisolate':
      return <Text size="sm">Cordon removes its firewall rules from {machine.computerDnsName}; the device's own firewall stays as it was.</Text>;
    case 'CollectInvestigationPackage':
      return (
        <Text size="sm">
          The agent gathers processes, network connections, users and sign-ins, persistence (services, cron, autostart), installed programs, logs, recently changed files and more into a zip with a summary
          report, and uploads it. Download it from the Action center or the timeline when it is done.
        </Text>
      );
    case 'RunAntiVirusScan':
      return <Text size="sm">{option === 'Full' ? 'A full scan of every local file system' : 'A quick scan of the places malware usually lives'} on {machine.computerDnsName}.</Text>;
    case 'RestrictCodeExecution':
      return <Text size="sm">Only programs allowed by the execution policy may start on {machine.computerDnsName}; Cordon keeps working.</Text>;
    case 'UnrestrictCodeExecution':
      return <Text size="sm">Every program may start again on {machine.computerDnsName}.</Text>;
    default:
      return null;
  }
}

/** The dialog of one response action: what it will do, its options, and the comment it requires. */
export function ActionDialog({ machine, request, onClose }: { machine: Machine; request: DialogRequest; onClose: () => void }) {
  const defaultOption = request.action === 'Isolate' ? 'Full' : 'Quick';
  const [option, setOption] = useState(request.option ?? defaultOption);
  const [comment, setComment] = useState('');
  const queryClient = useQueryClient();
  // The server refuses a Selective isolation no policy applies to: so does the dialog, before the comment is sent.
  const selective = request.action === 'Isolate' && option === 'Selective';
  const policy = usePolicy(machine.id, selective);
  const blocked = selective && (policy.isPending || (policy.data?.allow.length ?? 0) === 0);
  const title = `${actionLabel(request.action)}${request.action === 'RunAntiVirusScan' || request.action === 'Isolate' ? ` (${option})` : ''}`;
  const run = useMutation({
    mutationFn: () => submit(machine.id, request.action, comment.trim(), option),
    onSuccess: (a) => {
      notifications.show({ color: 'green', title: `${actionLabel(a.type)} submitted`, message: `${machine.computerDnsName}: ${a.status}. Follow it in the Action center.` });
      for (const k of [keys.actions(), keys.machine(machine.id), keys.responseActions(machine.id), keys.timeline(machine.id)]) void queryClient.invalidateQueries({ queryKey: k });
      onClose();
    },
  });

  return (
    <Modal opened onClose={onClose} title={`${title} — ${machine.computerDnsName}`} size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (comment.trim() && !blocked) run.mutate();
        }}
      >
        <Stack>
          {(request.action === 'Isolate' || request.action === 'RunAntiVirusScan') && (
            <SegmentedControl
              aria-label={request.action === 'Isolate' ? 'Isolation type' : 'Scan type'}
              value={option}
              onChange={setOption}
              data={request.action === 'Isolate' ? ['Full', 'Selective'] : ['Quick', 'Full']}
            />
          )}
          {whatHappens(request.action, option, machine)}
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
            <Button type="submit" loading={run.isPending} disabled={!comment.trim() || blocked} color={request.action === 'Isolate' ? 'red' : undefined}>
              {actionLabel(request.action)}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
