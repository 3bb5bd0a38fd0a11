import type { DeviceGroup } from '@cordon/api-client';
import { Badge, Button, Group, Modal, NumberInput, Stack, Switch, Text, Textarea, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState } from 'react';
import { api, keys, messageOf, ok } from '../api';
import { ErrorState } from '../components/QueryState';
import { Time } from '../components/Time';
import { useCan } from '../session';

/** The dialog open: adding a group, or editing one. */
type Editing = { group: DeviceGroup | null };

/**
 * Device groups (Administration): ranked, each taking the devices that carry its tag; a device
 * belongs to the highest-ranked group that matches it, else to Ungrouped devices. What a group
 * allows (live response's shell) applies to its devices from their next session.
 */
export function DeviceGroupsPage() {
  const can = useCan();
  const writable = can('groups.write');
  const list = useQuery({ queryKey: keys.deviceGroups, queryFn: async () => (await ok(api.GET('/api/machinegroups'))).value });
  const [editing, setEditing] = useState<Editing | null>(null);
  const [deleting, setDeleting] = useState<DeviceGroup | null>(null);
  if (list.error) return <ErrorState error={list.error} onRetry={() => void list.refetch()} />;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Device groups</Title>
        {writable && (
          <Button onClick={() => setEditing({ group: null })} data-testid="add-group">
            Add device group
          </Button>
        )}
      </Group>
      <Text size="sm" c="dimmed">
        A device belongs to the highest-ranked group (rank 1 first) whose tag it carries — tags set through Cordon, not those its agent reports — and otherwise to Ungrouped devices. Live response&apos;s shell is allowed only on devices of a group that allows it.
      </Text>
      <div data-testid="device-groups">
        <DataTable<DeviceGroup>
          records={list.data ?? []}
          fetching={list.isFetching}
          withTableBorder
          highlightOnHover
          minHeight={160}
          noRecordsText="No device groups: every device is in Ungrouped devices"
          customRowAttributes={(g) => ({ 'data-group': g.name })}
          columns={[
            { accessor: 'rank', title: 'Rank', width: 70 },
            { accessor: 'name', title: 'Name', render: (g) => <Text size="sm" fw={500}>{g.name}</Text> },
            { accessor: 'rule', title: 'Devices tagged', render: (g) => <Badge variant="light" tt="none">{g.rule.tag}</Badge> },
            {
              accessor: 'liveResponseShell',
              title: 'Live response shell',
              render: (g) => (
                <Badge color={g.liveResponseShell ? 'orange' : 'gray'} variant="light" data-testid="group-shell">
                  {g.liveResponseShell ? 'Allowed' : 'Not allowed'}
                </Badge>
              ),
            },
            { accessor: 'description', title: 'Description', render: (g) => <Text size="sm">{g.description ?? ''}</Text> },
            {
              accessor: 'updatedAt',
              title: 'Changed',
              render: (g) => (
                <Text size="xs" c="dimmed">
                  <Time value={g.updatedAt} /> by {g.updatedBy}
                </Text>
              ),
            },
            ...(writable
              ? [
                  {
                    accessor: 'edit',
                    title: '',
                    width: 150,
                    textAlign: 'right' as const,
                    render: (g: DeviceGroup) => (
                      <Group gap={4} justify="end" wrap="nowrap">
                        <Button size="compact-xs" variant="light" onClick={() => setEditing({ group: g })}>
                          Edit
                        </Button>
                        <Button size="compact-xs" variant="light" color="red" onClick={() => setDeleting(g)}>
                          Delete
                        </Button>
                      </Group>
                    ),
                  },
                ]
              : []),
          ]}
        />
      </div>
      {editing && <GroupDialog group={editing.group} onClose={() => setEditing(null)} />}
      {deleting && <DeleteGroupDialog group={deleting} onClose={() => setDeleting(null)} />}
    </Stack>
  );
}

function useRefreshGroups() {
  const queryClient = useQueryClient();
  // A group's change moves devices between groups: their views are refreshed too.
  return () => {
    void queryClient.invalidateQueries({ queryKey: keys.deviceGroups });
    void queryClient.invalidateQueries({ queryKey: keys.machines() });
    void queryClient.invalidateQueries({ queryKey: ['machine'] });
  };
}

/** Adds a group (`group` null) or changes one: only the fields that differ are sent. */
function GroupDialog({ group, onClose }: { group: DeviceGroup | null; onClose: () => void }) {
  const refresh = useRefreshGroups();
  const [form, setForm] = useState({
    name: group?.name ?? '',
    description: group?.description ?? '',
    rank: group?.rank ?? ('' as number | ''),
    tag: group?.rule.tag ?? '',
    liveResponseShell: group?.liveResponseShell ?? false,
    comment: '',
  });
  const field = <K extends keyof typeof form>(k: K) => (v: (typeof form)[K]) => setForm((f) => ({ ...f, [k]: v }));
  const save = useMutation({
    mutationFn: () => {
      const comment = form.comment.trim() || undefined;
      const description = form.description.trim() || null;
      const rank = form.rank === '' ? undefined : Number(form.rank);
      if (!group) {
        return ok(api.POST('/api/machinegroups', { body: { name: form.name.trim(), description, rank, rule: { tag: form.tag.trim() }, liveResponseShell: form.liveResponseShell, comment } }));
      }
      const body = {
        ...(form.name.trim() !== group.name ? { name: form.name.trim() } : {}),
        ...(description !== group.description ? { description } : {}),
        ...(rank !== undefined && rank !== group.rank ? { rank } : {}),
        ...(form.tag.trim() !== group.rule.tag ? { rule: { tag: form.tag.trim() } } : {}),
        ...(form.liveResponseShell !== group.liveResponseShell ? { liveResponseShell: form.liveResponseShell } : {}),
        comment,
      };
      return ok(api.PATCH('/api/machinegroups/{id}', { params: { path: { id: group.id } }, body }));
    },
    onSuccess: (g) => {
      notifications.show({ color: 'green', message: `Device group ${g.name} saved` });
      refresh();
      onClose();
    },
  });
  const ready = form.name.trim() !== '' && form.tag.trim() !== '';
  return (
    <Modal opened onClose={onClose} title={group ? `Edit device group ${group.name}` : 'Add a device group'} size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) save.mutate();
        }}
      >
        <Stack>
          <TextInput label="Name" required value={form.name} onChange={(e) => field('name')(e.currentTarget.value)} maxLength={128} data-autofocus />
          <Group grow align="start">
            <TextInput label="Devices tagged" required description="Devices carrying this tag belong to the group (exact, whatever its case)" value={form.tag} onChange={(e) => field('tag')(e.currentTarget.value)} maxLength={128} />
            <NumberInput label="Rank" description={group ? '1 is the highest priority' : 'Empty: after every other group'} min={1} max={10000} allowDecimal={false} value={form.rank} onChange={(v) => field('rank')(v === '' ? '' : Number(v))} />
          </Group>
          <Textarea label="Description" value={form.description} onChange={(e) => field('description')(e.currentTarget.value)} maxLength={1000} autosize minRows={2} />
          <Switch
            label="Allow live response's shell"
            description="A full interactive terminal on the group's devices, for responders, in their next session"
            checked={form.liveResponseShell}
            onChange={(e) => field('liveResponseShell')(e.currentTarget.checked)}
            data-testid="group-shell-switch"
          />
          <TextInput label="Comment" description="Why (kept in the audit log)" value={form.comment} onChange={(e) => field('comment')(e.currentTarget.value)} maxLength={4000} />
          {save.error && (
            <Text c="red" size="sm" role="alert">
              {messageOf(save.error)}
            </Text>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending} disabled={!ready}>
              {group ? 'Save' : 'Add device group'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function DeleteGroupDialog({ group, onClose }: { group: DeviceGroup; onClose: () => void }) {
  const refresh = useRefreshGroups();
  const [comment, setComment] = useState('');
  const remove = useMutation({
    mutationFn: () => ok(api.DELETE('/api/machinegroups/{id}', { params: { path: { id: group.id }, query: { comment: comment.trim() || undefined } } })),
    onSuccess: () => {
      notifications.show({ color: 'green', message: `Device group ${group.name} deleted` });
      refresh();
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Delete device group ${group.name}`}>
      <Stack>
        <Text size="sm">Its devices join the next group whose tag they carry, or Ungrouped devices.</Text>
        <TextInput label="Comment" description="Why (kept in the audit log)" value={comment} onChange={(e) => setComment(e.currentTarget.value)} maxLength={4000} />
        {remove.error && (
          <Text c="red" size="sm" role="alert">
            {messageOf(remove.error)}
          </Text>
        )}
        <Group justify="end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
