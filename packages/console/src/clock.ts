import { useEffect, useState } from 'react';

/** The current time, read again every `everyMs`, so relative times ("5 seconds ago") move on while a page stays open. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    setNow(Date.now());
    const timer = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(timer);
  }, [everyMs]);
  return now;
}
