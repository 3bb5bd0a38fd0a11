import { Alert, Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { keys, messageOf } from '../api';

/** What one revocation is about: the dialog's words and the call that makes it. */
export interface RevokeRequest {
  /** "Revoke API token ci-runner", "Disable user alice". */
  title: string;
  /** What happens once it is done, said before anyone confirms. */
  consequence: string;
  /** The confirm button: "Revoke" or "Disable". */
  verb: string;
  /** Shown when it is done, e.g. "API token ci-runner revoked". */
  done: string;
  submit: (comment: string) => Promise<unknown>;
}

/**
 * Confirms a revocation with the comment it requires (like an action's dialog); on failure it keeps
 * the dialog open with the API's own message (e.g. 409 when someone else revoked it meanwhile).
 */
export function RevokeDialog({ request, onClose }: { request: RevokeRequest; onClose: () => void }) {
  const [comment, setComment] = useState('');
  const queryClient = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => request.submit(comment.trim()),
    onSuccess: () => {
      notifications.show({ color: 'green', message: request.done });
      onClose();
    },
    // Refreshed either way: a refusal such as "already revoked" means the list is out of date.
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: keys.credentials() });
      void queryClient.invalidateQueries({ queryKey: keys.audit() });
    },
  });
  return (
    <Modal opened onClose={onClose} title={request.title}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (comment.trim()) revoke.mutate();
        }}
      >
        <Stack>
          <Text size="sm">{request.consequence}</Text>
          <Textarea
            label="Comment"
            description="Required: say why. It is kept in the audit log."
            required
            data-autofocus
            autosize
            minRows={2}
            maxLength={4000}
            value={comment}
            onChange={(e) => setComment(e.currentTarget.value)}
          />
          {revoke.error && (
            <Alert color="red" role="alert" data-testid="revoke-error">
              {messageOf(revoke.error)}
            </Alert>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Keep it
            </Button>
            <Button type="submit" color="red" loading={revoke.isPending} disabled={!comment.trim()}>
              {request.verb}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
