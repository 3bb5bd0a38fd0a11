import type { Machine, ResponseActionAvailability } from '@cordon/api-client';
import { Button, Group, Menu, Tooltip } from '@mantine/core';
import {
  IconBrain,
  IconChevronDown,
  IconListCheck,
  IconLock,
  IconLockOpen,
  IconMessageQuestion,
  IconPackage,
  IconShieldCheck,
  IconTags,
  IconTerminal2,
  IconVirusSearch,
} from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { api, keys, messageOf, ok } from '../api';
import { ActionDialog, type DialogRequest } from './ActionDialog';
import { ManageTagsDialog } from './ManageTagsDialog';
import { ReasonButton } from './ReasonButton';

/** The catalog names icons; the console draws them. */
const ICONS: Record<string, ReactNode> = {
  tags: <IconTags size={16} />,
  brain: <IconBrain size={16} />,
  'terminal-2': <IconTerminal2 size={16} />,
  package: <IconPackage size={16} />,
  'virus-search': <IconVirusSearch size={16} />,
  'shield-check': <IconShieldCheck size={16} />,
  lock: <IconLock size={16} />,
  'lock-open': <IconLockOpen size={16} />,
  'message-question': <IconMessageQuestion size={16} />,
};

/**
 * The device page's response-action bar, in the seed's order. What the server says about each
 * action (the agent's capabilities, the signed-in role, what is already under way) decides
 * whether its button is enabled; a disabled button says why.
 */
export function ActionBar({ machine, onOpenActionCenter }: { machine: Machine; onOpenActionCenter: () => void }) {
  const availability = useQuery({
    queryKey: keys.responseActions(machine.id),
    queryFn: () => ok(api.GET('/api/machines/{id}/responseActions', { params: { path: { id: machine.id } } })),
  });
  const [dialog, setDialog] = useState<DialogRequest | null>(null);
  const [tagsOpen, setTagsOpen] = useState(false);

  const open = (a: ResponseActionAvailability, option?: string) => {
    if (a.action === 'ManageTags') setTagsOpen(true);
    else setDialog({ action: a, option });
  };

  const button = (a: ResponseActionAvailability) => {
    const common = { variant: 'subtle' as const, size: 'compact-sm' as const, leftSection: a.icon ? ICONS[a.icon] : undefined, 'data-action': a.action };
    // An action with options (isolation type, scan type) opens a menu of them first.
    const option = a.option;
    if (a.available && option) {
      return (
        <Menu key={a.action} position="bottom-start">
          <Menu.Target>
            <Button {...common} aria-disabled={false} rightSection={<IconChevronDown size={14} />}>
              {a.label}
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            {option.values.map((o) => (
              <Menu.Item key={o} onClick={() => open(a, o)}>
                {option.item.replaceAll('{value}', o)}
              </Menu.Item>
            ))}
          </Menu.Dropdown>
        </Menu>
      );
    }
    return (
      <ReasonButton key={a.action} {...common} reason={a.available ? null : (a.reason ?? 'Not available')} onClick={() => open(a)}>
        {a.label}
      </ReasonButton>
    );
  };

  return (
    <>
      <Group gap={4} wrap="wrap" data-testid="action-bar" role="toolbar" aria-label="Response actions">
        {availability.data?.value.map(button)}
        {availability.isPending && <Button variant="subtle" size="sm" loading aria-label="Loading actions" />}
        {availability.error && (
          <Tooltip label={`Could not load which actions this device offers: ${messageOf(availability.error)}`} multiline w={320}>
            <Button variant="subtle" size="compact-sm" color="red" onClick={() => void availability.refetch()}>
              Retry loading actions
            </Button>
          </Tooltip>
        )}
        <Button variant="subtle" size="sm" leftSection={<IconListCheck size={16} />} onClick={onOpenActionCenter} data-action="ActionCenter">
          Action center
        </Button>
      </Group>
      {dialog && <ActionDialog machine={machine} request={dialog} onClose={() => setDialog(null)} />}
      {tagsOpen && <ManageTagsDialog machine={machine} onClose={() => setTagsOpen(false)} />}
    </>
  );
}
