import type { Machine } from '@cordon/api-client';
import { Badge, Button, CloseButton, Group, Modal, Stack, Text, TextInput, Tooltip } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, keys, messageOf, ok } from '../api';

/** Tags set from Cordon can be added and removed here; tags the device reports itself are shown read-only. */
export function ManageTagsDialog({ machine, onClose }: { machine: Machine; onClose: () => void }) {
  const [value, setValue] = useState('');
  const queryClient = useQueryClient();
  const change = useMutation({
    mutationFn: (v: { value: string; action: 'Add' | 'Remove' }) => ok(api.POST('/api/machines/{id}/tags', { params: { path: { id: machine.id } }, body: v })),
    onSuccess: (m) => {
      queryClient.setQueryData(keys.machine(machine.id), m);
      void queryClient.invalidateQueries({ queryKey: keys.machines() });
      setValue('');
    },
  });
  const current = queryClient.getQueryData<Machine>(keys.machine(machine.id)) ?? machine;

  return (
    <Modal opened onClose={onClose} title={`Manage tags — ${machine.computerDnsName}`}>
      <Stack>
        <Group gap="xs" data-testid="tag-list">
          {current.machineTagDetails.length === 0 && <Text c="dimmed" size="sm">No tags yet.</Text>}
          {current.machineTagDetails.map((t) => (
            <Badge
              key={`${t.source}:${t.tag}`}
              variant={t.source === 'user' ? 'light' : 'outline'}
              tt="none"
              rightSection={
                t.source === 'user' ? (
                  <CloseButton size="xs" aria-label={`Remove tag ${t.tag}`} onClick={() => change.mutate({ value: t.tag, action: 'Remove' })} />
                ) : undefined
              }
            >
              {t.source === 'user' ? t.tag : <Tooltip label="Set on the device; change it there">{<span>{t.tag}</span>}</Tooltip>}
            </Badge>
          ))}
        </Group>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (value.trim()) change.mutate({ value: value.trim(), action: 'Add' });
          }}
        >
          <Group align="end">
            <TextInput label="New tag" data-autofocus value={value} onChange={(e) => setValue(e.currentTarget.value)} maxLength={128} style={{ flex: 1 }} />
            <Button type="submit" loading={change.isPending} disabled={!value.trim()}>
              Add tag
            </Button>
          </Group>
        </form>
        {change.error && (
          <Text c="red" size="sm" role="alert">
            {messageOf(change.error)}
          </Text>
        )}
        <Group justify="end">
          <Button variant="default" onClick={onClose}>
            Done
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
