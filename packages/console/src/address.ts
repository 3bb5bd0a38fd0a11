import { useDebouncedValue } from '@mantine/hooks';
import { useCallback, useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';

export type ParamChanges = Record<string, string | null>;

/** Sets (or, with null, removes) query parameters of the address, replacing its history entry. */
export function useSetParams(): (changes: ParamChanges) => void {
  const [, setParams] = useSearchParams();
  return useCallback(
    (changes: ParamChanges) =>
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          for (const [k, v] of Object.entries(changes)) {
            if (v) next.set(k, v);
            else next.delete(k);
          }
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );
}

/**
 * A text filter kept in the address under `name`, so a filtered view can be shared: typed freely,
 * written through `write` after a pause, and following the address when that changes by navigation
 * (a link, back/forward).
 */
export function useAddressText(name: string, write: (changes: ParamChanges) => void): [string, (text: string) => void] {
  const [params] = useSearchParams();
  const inAddress = params.get(name) ?? '';
  const [text, setText] = useState(inAddress);
  const [typed] = useDebouncedValue(text.trim(), 300);
  useEffect(() => setText(inAddress), [inAddress]);
  useEffect(() => {
    if (typed !== inAddress) write({ [name]: typed || null });
  }, [typed]);
  return [text, setText];
}
