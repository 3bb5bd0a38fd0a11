import type { Machine } from '@cordon/api-client';
import { Alert, Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api, keys, messageOf, ok } from '../api';

/** Where a live-response session's page is. */
export const livePath = (machineId: string, sessionId: string): string => `/devices/${encodeURIComponent(machineId)}/live/${encodeURIComponent(sessionId)}`;

/** The session under way on a device (Queued or Active), if any: the bar opens it instead of a new one. */
export async function openSessionOf(machineId: string): Promise<string | null> {
  const list = await ok(api.GET('/api/liveResponseSessions', { params: { query: { machineId } } }));
  return list.value.find((s) => s.machineId === machineId && s.state !== 'Ended')?.id ?? null;
}

/** "Initiate Live Response Session": the comment it requires, then the session's page. */
export function LiveSessionDialog({ machine, onClose }: { machine: Machine; onClose: () => void }) {
  const [comment, setComment] = useState('');
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const start = useMutation({
    mutationFn: () => ok(api.POST('/api/machines/{id}/liveResponseSessions', { params: { path: { id: machine.id } }, body: { comment: comment.trim() } })),
    onSuccess: (s) => {
      for (const k of [keys.actions(), keys.responseActions(machine.id), keys.timeline(machine.id)]) void queryClient.invalidateQueries({ queryKey: k });
      onClose();
      void navigate(livePath(machine.id, s.id));
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Initiate Live Response Session — ${machine.computerDnsName}`} size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (comment.trim()) start.mutate();
        }}
      >
        <Stack>
          <Text size="sm">
            Opens a remote session to {machine.computerDnsName}: you type commands, the device answers. Everything typed and returned is kept in the session&apos;s transcript. A device that is offline gets the session when it connects.
          </Text>
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
          {start.error && (
            <Alert color="red" role="alert" data-testid="action-error">
              {messageOf(start.error)}
            </Alert>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={start.isPending} disabled={!comment.trim()}>
              Initiate Live Response Session
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
