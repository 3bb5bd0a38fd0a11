import type { MachineAction } from '@cordon/api-client';
import { Anchor, Button, Group, Modal, Popover, Stack, Text, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconDownload } from '@tabler/icons-react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, keys, messageOf, ok } from '../api';
import { useActionLabel, useCancellable } from '../action-types';
import { useCan } from '../session';
import { pagedTableProps } from './paged';
import { ReasonButton } from './ReasonButton';
import { ErrorState } from './QueryState';
import { ActionLink, useOpenAction } from './ActionDetail';
import { ScanResultCell } from './ScanResult';
import { ActionStatus } from './StateBadges';
import { Ago, Time } from './Time';

/** Opens the short-lived download link of an action's investigation package. */
export async function downloadPackage(actionId: string): Promise<void> {
  const uri = await ok(api.GET('/api/machineactions/{id}/GetPackageUri', { params: { path: { id: actionId } } }));
  window.location.assign(uri.value);
}

export function PackageDownloadButton({ actionId, label = 'Download package' }: { actionId: string; label?: string }) {
  const can = useCan();
  const [busy, setBusy] = useState(false);
  const reason = can('packages.read') ? null : 'Your role may not download packages (analyst or higher)';
  return (
    <ReasonButton
      size="compact-xs"
      variant="light"
      leftSection={<IconDownload size={14} />}
      loading={busy}
      reason={reason}
      onClick={() => {
        setBusy(true);
        downloadPackage(actionId)
          .catch((e: unknown) => notifications.show({ color: 'red', title: 'Download failed', message: messageOf(e) }))
          .finally(() => setBusy(false));
      }}
    >
      {label}
    </ReasonButton>
  );
}

function CommentCell({ comment }: { comment: string }) {
  return (
    <Popover width={320} withArrow shadow="md">
      <Popover.Target>
        <Button size="compact-xs" variant="subtle">
          Show comment
        </Button>
      </Popover.Target>
      <Popover.Dropdown>
        <Text size="sm" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }} data-testid="action-comment">
          {comment}
        </Text>
      </Popover.Dropdown>
    </Popover>
  );
}

/**
 * The cancel dialog lives with the table, not the row: a live refresh may move or re-render the row
 * while the user types the comment.
 */
export function CancelDialog({ action, onClose }: { action: MachineAction; onClose: () => void }) {
  const actionLabel = useActionLabel();
  const [comment, setComment] = useState('');
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => ok(api.POST('/api/machineactions/{id}/cancel', { params: { path: { id: action.id } }, body: { comment } })),
    onSuccess: () => {
      notifications.show({ color: 'green', message: `${actionLabel(action.type)} on ${action.computerDnsName} cancelled` });
      void queryClient.invalidateQueries({ queryKey: keys.actions() });
      onClose();
    },
  });
  return (
    // Above the action's detail pane (a drawer), which also offers it.
    <Modal opened onClose={onClose} title={`Cancel ${actionLabel(action.type)} on ${action.computerDnsName}`} zIndex={300}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          cancel.mutate();
        }}
      >
        <Stack>
          <Text size="sm">
            {action.status === 'InProgress'
              ? 'The device is running this action: cancelling it stops it there within a second. What it found so far stays (a scan\'s detections are alerts already).'
              : 'The device has not started this action; cancelling it means it never runs. If the device started it meanwhile, the action keeps its real outcome, unless the cancel can stop it there (a scan).'}
          </Text>
          <Textarea label="Comment" description="Say why; it is kept in the Action center and the audit log." required data-autofocus value={comment} onChange={(e) => setComment(e.currentTarget.value)} maxLength={4000} autosize minRows={2} />
          {cancel.error && (
            <Text c="red" size="sm" role="alert">
              {messageOf(cancel.error)}
            </Text>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Keep it
            </Button>
            <Button type="submit" color="red" loading={cancel.isPending} disabled={!comment.trim()}>
              Cancel action
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Cancels an action that can be cancelled now (Pending, or a running scan); nothing otherwise. */
export function CancelButton({ action, onCancel }: { action: MachineAction; onCancel: (a: MachineAction) => void }) {
  const can = useCan();
  const cancellable = useCancellable();
  if (!cancellable(action)) return null;
  const reason = can('actions.cancel') ? null : 'Your role may not cancel actions (responder or higher)';
  return (
    <ReasonButton size="compact-xs" color="red" variant="light" reason={reason} onClick={() => onCancel(action)} data-testid="cancel-action">
      Cancel
    </ReasonButton>
  );
}

function ResultCell({ action, onCancel }: { action: MachineAction; onCancel: (a: MachineAction) => void }) {
  if (action.type === 'CollectInvestigationPackage' && action.status === 'Succeeded') return <PackageDownloadButton actionId={action.id} />;
  if (action.type === 'RunAntiVirusScan' && action.status === 'Succeeded') return <ScanResultCell action={action} />;
  return <CancelButton action={action} onCancel={onCancel} />;
}

/** A time on one line, its column as wide as it needs (its header "Last updated" shown whole too). */
const DATE_COLUMN = { noWrap: true, customCellAttributes: () => ({ 'data-date': '' }) } as const;

/**
 * The Action center's table, for one device (the fly-out) or all of them (the page): newest first,
 * paged by the API, refreshed by live updates.
 */
export function ActionsTable({ filter, showDevice, pageSize = 25, testId = 'actions-table', emptyText }: { filter?: string; showDevice: boolean; pageSize?: number; testId?: string; emptyText?: string }) {
  const actionLabel = useActionLabel();
  const [page, setPage] = useState(1);
  const [lastFilter, setLastFilter] = useState(filter);
  if (filter !== lastFilter) {
    setLastFilter(filter);
    setPage(1);
  }
  const query = { $filter: filter, $top: pageSize, $skip: (page - 1) * pageSize, $count: 'true' as const };
  const list = useQuery({ queryKey: keys.actions(query), queryFn: () => ok(api.GET('/api/machineactions', { params: { query } })), placeholderData: keepPreviousData });
  const [cancelling, setCancelling] = useState<MachineAction | null>(null);
  const openAction = useOpenAction();

  return (
    <Stack gap="xs">
      {list.error && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      <div data-testid={testId}>
        <DataTable<MachineAction>
          {...pagedTableProps(list)}
          minHeight={160}
          recordsPerPage={pageSize}
          page={page}
          onPageChange={setPage}
          noRecordsText={emptyText ?? (filter ? 'No action matches these filters' : 'No actions yet')}
          // A row opens the action's detail pane, unless the click was meant for something in it (a button, a link, a popover).
          onRowClick={({ record, event }) => {
            if (!(event.target as HTMLElement).closest('a, button, input, textarea, [role="dialog"]')) openAction(record.id);
          }}
          columns={[
            { accessor: 'creationDateTimeUtc', title: 'Submitted', ...DATE_COLUMN, render: (a) => <Time value={a.creationDateTimeUtc} /> },
            {
              accessor: 'type',
              title: 'Action',
              render: (a) => (
                <>
                  <ActionLink id={a.id}>{actionLabel(a.type)}</ActionLink>
                  {a.scope && (
                    <Text size="xs" c="dimmed">
                      Scope: {a.scope}
                    </Text>
                  )}
                </>
              ),
            },
            ...(showDevice
              ? [
                  {
                    accessor: 'computerDnsName' as const,
                    title: 'Device',
                    render: (a: MachineAction) => (
                      <Anchor component={Link} to={`/devices/${a.machineId}`} size="sm" style={{ overflowWrap: 'anywhere' }}>
                        {a.computerDnsName}
                      </Anchor>
                    ),
                  },
                ]
              : []),
            { accessor: 'requestor', title: 'Submitted by' },
            { accessor: 'requestorComment', title: 'Comment', render: (a) => <CommentCell comment={a.requestorComment} /> },
            {
              accessor: 'status',
              title: 'Status',
              width: 190,
              // The error sits under the status it explains.
              render: (a) => (
                <>
                  <ActionStatus action={a} />
                  {a.error && (
                    <Text size="xs" c="red" lineClamp={3} title={a.error} mt={4}>
                      {a.error}
                    </Text>
                  )}
                </>
              ),
            },
            // How long ago, with the exact time on hover: the table keeps room for the result at 1280 px.
            { accessor: 'lastUpdateDateTimeUtc', title: 'Last updated', ...DATE_COLUMN, render: (a) => <Ago value={a.lastUpdateDateTimeUtc} /> },
            { accessor: 'result', title: 'Result', render: (a) => <ResultCell action={a} onCancel={setCancelling} /> },
          ]}
        />
      </div>
      {cancelling && <CancelDialog key={cancelling.id} action={cancelling} onClose={() => setCancelling(null)} />}
    </Stack>
  );
}
