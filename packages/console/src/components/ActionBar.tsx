import type { Machine, ResponseActionAvailability } from '@cordon/api-client';
import { Button, Group, Menu, Text, Tooltip } from '@mantine/core';
import {
  IconBrain,
  IconChevronDown,
  IconDots,
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
import { useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api, keys, messageOf, ok } from '../api';
import { notifications } from '@mantine/notifications';
import { useNavigate } from 'react-router';
import { ActionDialog, type DialogRequest } from './ActionDialog';
import { LiveSessionDialog, livePath, openSessionOf } from './LiveSessionDialog';
import { ManageTagsDialog } from './ManageTagsDialog';
import { fitInRow } from './fit-in-row';
import { ReasonButton, UNAVAILABLE_STYLE } from './ReasonButton';

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

const GAP = 4;

/**
 * The device page's response-action bar, in the catalog's order, on one row whatever the width:
 * what does not fit goes into a "More actions" menu, usable actions keeping their place in the row
 * before unavailable ones (as MDE's device page does). What the server says about each action (the
 * agent's capabilities, the signed-in role, what is already under way) decides whether it can be
 * used; an unavailable one is drawn light and says why (tooltip in the row, a line in the menu).
 */
export function ActionBar({ machine, onOpenActionCenter }: { machine: Machine; onOpenActionCenter: () => void }) {
  const availability = useQuery({
    queryKey: keys.responseActions(machine.id),
    queryFn: () => ok(api.GET('/api/machines/{id}/responseActions', { params: { path: { id: machine.id } } })),
  });
  const [dialog, setDialog] = useState<DialogRequest | null>(null);
  const [tagsOpen, setTagsOpen] = useState(false);
  const [liveOpen, setLiveOpen] = useState(false);
  const navigate = useNavigate();
  const actions = useMemo(() => availability.data?.value ?? [], [availability.data]);
  const fit = useFit(actions);

  const open = (a: ResponseActionAvailability, option?: string) => {
    if (a.action === 'ManageTags') setTagsOpen(true);
    else if (a.action === 'LiveResponse') {
      // A session under way is joined rather than a second one asked for (the server would refuse it).
      openSessionOf(machine.id)
        .then((id) => (id ? void navigate(livePath(machine.id, id)) : setLiveOpen(true)))
        .catch((e: unknown) => notifications.show({ color: 'red', title: 'Could not look for a session under way', message: messageOf(e) }));
    } else setDialog({ action: a, option });
  };

  const button = (a: ResponseActionAvailability) => {
    const common = { ...look(a), 'data-action': a.action };
    // An action with options (isolation type, scan type) opens a menu of them first.
    const option = a.option;
    if (a.available && option) {
      return (
        <Menu key={a.action} position="bottom-start">
          <Menu.Target>
            <Button {...common} aria-disabled={false}>
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

  /** An action that did not fit the row, as menu items: its options, or itself (light, with its reason, when unavailable). */
  const menuItems = (a: ResponseActionAvailability) => {
    const icon = a.icon ? ICONS[a.icon] : undefined;
    if (!a.available) {
      return (
        <Menu.Item key={a.action} leftSection={icon} aria-disabled closeMenuOnClick={false} data-action={a.action} style={UNAVAILABLE_STYLE}>
          {a.label}
          <Text size="xs" c="dimmed" maw={320}>
            {a.reason ?? 'Not available'}
          </Text>
        </Menu.Item>
      );
    }
    if (a.option) {
      const option = a.option;
      return option.values.map((o) => (
        <Menu.Item key={`${a.action}-${o}`} leftSection={icon} onClick={() => open(a, o)} data-action={a.action}>
          {option.item.replaceAll('{value}', o)}
        </Menu.Item>
      ));
    }
    return (
      <Menu.Item key={a.action} leftSection={icon} onClick={() => open(a)} data-action={a.action}>
        {a.label}
      </Menu.Item>
    );
  };

  const inline = fit.shown ? actions.filter((a) => fit.shown!.has(a.action)) : actions;
  const overflow = fit.shown ? actions.filter((a) => !fit.shown!.has(a.action)) : [];
  const actionCenter = { variant: 'subtle' as const, size: 'compact-sm' as const, leftSection: <IconListCheck size={16} /> };
  const more = { variant: 'subtle' as const, size: 'compact-sm' as const, 'aria-label': 'More actions', children: <IconDots size={16} /> };

  return (
    <>
      <Group ref={fit.barRef} gap={GAP} wrap="nowrap" data-testid="action-bar" role="toolbar" aria-label="Response actions" style={{ minWidth: 0 }}>
        {inline.map(button)}
        {availability.isPending && <Button variant="subtle" size="compact-sm" loading aria-label="Loading actions" />}
        {availability.error && (
          <Tooltip label={`Could not load which actions this device offers: ${messageOf(availability.error)}`} multiline w={320}>
            <Button variant="subtle" size="compact-sm" color="red" onClick={() => void availability.refetch()}>
              Retry loading actions
            </Button>
          </Tooltip>
        )}
        <Button {...actionCenter} onClick={onOpenActionCenter} data-action="ActionCenter">
          Action center
        </Button>
        {overflow.length > 0 && (
          <Menu position="bottom-end" width={340}>
            <Menu.Target>
              <Button {...more} />
            </Menu.Target>
            <Menu.Dropdown data-testid="more-actions">{overflow.map(menuItems)}</Menu.Dropdown>
          </Menu>
        )}
      </Group>
      {/* The same buttons, unseen, measured: how wide each one is decides what fits in the row. */}
      <div aria-hidden style={{ position: 'relative', height: 0, overflow: 'hidden' }}>
        <div ref={fit.measureRef} style={{ position: 'absolute', display: 'flex', gap: GAP, width: 'max-content', visibility: 'hidden' }}>
          {actions.map((a) => (
            <Button key={a.action} {...look(a)} tabIndex={-1} data-measure={a.action}>
              {a.label}
            </Button>
          ))}
          <Button {...actionCenter} tabIndex={-1} data-measure="ActionCenter">
            Action center
          </Button>
          <Button {...more} tabIndex={-1} data-measure="More" />
        </div>
      </div>
      {dialog && <ActionDialog machine={machine} request={dialog} onClose={() => setDialog(null)} />}
      {tagsOpen && <ManageTagsDialog machine={machine} onClose={() => setTagsOpen(false)} />}
      {liveOpen && <LiveSessionDialog machine={machine} onClose={() => setLiveOpen(false)} />}
    </>
  );
}

/** How an action's button looks (the measured copy is drawn the same way). */
function look(a: ResponseActionAvailability) {
  return {
    variant: 'subtle' as const,
    size: 'compact-sm' as const,
    leftSection: a.icon ? ICONS[a.icon] : undefined,
    rightSection: a.available && a.option ? <IconChevronDown size={14} /> : undefined,
  };
}

/** Which actions fit in the bar's row (fitInRow), measured again when the bar or the buttons change size. */
function useFit(actions: ResponseActionAvailability[]) {
  const barRef = useRef<HTMLDivElement>(null);
  const measureRef = useRef<HTMLDivElement>(null);
  const [shown, setShown] = useState<Set<string> | null>(null);

  useLayoutEffect(() => {
    const bar = barRef.current;
    const measure = measureRef.current;
    if (!bar || !measure) return;
    const compute = () => {
      const widths = new Map([...measure.querySelectorAll<HTMLElement>('[data-measure]')].map((e) => [e.dataset.measure!, e.getBoundingClientRect().width]));
      const width = (key: string) => (widths.get(key) ?? 0) + GAP;
      const next = fitInRow(actions, width, bar.clientWidth);
      setShown((prev) => (prev && prev.size === next.size && [...next].every((k) => prev.has(k)) ? prev : next));
    };
    compute();
    const observer = new ResizeObserver(compute);
    observer.observe(bar);
    observer.observe(measure);
    return () => observer.disconnect();
  }, [actions]);

  return { barRef, measureRef, shown };
}
