import { Button, Tooltip, type ButtonProps } from '@mantine/core';
import type { ReactNode } from 'react';

type Props = ButtonProps & {
  /** Why the button cannot be used now, or null when it can. */
  reason: string | null;
  onClick: () => void;
  children: ReactNode;
  [data: `data-${string}`]: string | undefined;
};

/** Unavailable is drawn light (dimmed text, no grey box), so the usable buttons beside it stand out. */
export const UNAVAILABLE_STYLE = { backgroundColor: 'transparent', borderColor: 'transparent', color: 'var(--mantine-color-dimmed)' } as const;

/**
 * A button that may be unavailable. Then it is not `disabled`: it stays focusable so its reason is
 * read on hover and on keyboard focus, it is marked aria-disabled, and a click does nothing.
 */
export function ReasonButton({ reason, onClick, children, style, ...props }: Props) {
  return (
    <Tooltip label={reason} disabled={!reason} multiline maw={320} withArrow events={{ hover: true, focus: true, touch: true }}>
      <Button {...props} style={reason ? [style, UNAVAILABLE_STYLE] : style} data-disabled={reason ? true : undefined} aria-disabled={reason !== null} onClick={() => reason === null && onClick()}>
        {children}
      </Button>
    </Tooltip>
  );
}
