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

type ActionName = ResponseActionAvailability['action'];

const ICONS: Partial<Record<ActionName, ReactNode>> = {
  ManageTags: <IconTags size={16} />,
  AutomatedInvestigation: <IconBrain size={16} />,
  LiveResponse: <IconTerminal2 size={16} />,
  CollectInvestigationPackage: <IconPackage size={16} />,
  RunAntiVirusScan: <IconVirusSearch size={16} />,
  RestrictCodeExecution: <IconShieldCheck size={16} />,
  UnrestrictCodeExecution: <IconShieldCheck size={16} />,
  Isolate: <IconLock size={16} />,
  Unisolate: <IconLockOpen size={16} />,
  ConsultThreatExpert: <IconMessageQuestion size={16} />,
};

const LABELS: Record<ActionName, string> = {
  ManageTags: 'Manage tags',
  AutomatedInvestigation: 'Initiate Automated Investigation',
  LiveResponse: 'Initiate Live Response Session',
  CollectInvestigationPackage: 'Collect investigation package',
  RunAntiVirusScan: 'Run antivirus scan',
  RestrictCodeExecution: 'Restrict app execution',
  UnrestrictCodeExecution: 'Remove app restrictions',
  Isolate: 'Isolate device',
  Unisolate: 'Release from isolation',
  ConsultThreatExpert: 'Consult a threat expert',
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
    else setDialog({ action: a.action, option });
  };

  const button = (a: ResponseActionAvailability) => {
    const common = { variant: 'subtle' as const, size: 'compact-sm' as const, leftSection: ICONS[a.action], 'data-action': a.action };
    // Isolate and scan open a menu of their options first.
    if (a.available && (a.action === 'Isolate' || a.action === 'RunAntiVirusScan')) {
      return (
        <Menu key={a.action} position="bottom-start">
          <Menu.Target>
            <Button {...common} aria-disabled={false} rightSection={<IconChevronDown size={14} />}>
              {LABELS[a.action]}
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            {(a.action === 'Isolate' ? ['Full', 'Selective'] : ['Quick', 'Full']).map((o) => (
              <Menu.Item key={o} onClick={() => open(a, o)}>
                {a.action === 'Isolate' ? `${o} isolation` : `${o} scan`}
              </Menu.Item>
            ))}
          </Menu.Dropdown>
        </Menu>
      );
    }
    return (
      <ReasonButton key={a.action} {...common} reason={a.available ? null : (a.reason ?? 'Not available')} onClick={() => open(a)}>
        {LABELS[a.action]}
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
