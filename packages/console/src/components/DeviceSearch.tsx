import type { Machine } from '@cordon/api-client';
import { Select } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type KeyboardEvent } from 'react';
import { useNavigate } from 'react-router';
import { api, keys, literal, ok } from '../api';

/** The OData filter that finds a device by the start of its name or last IP address, any address it had, or any part of a tag (any case). */
export function searchFilter(term: string): string {
  const q = literal(term);
  return `startswith(computerDnsName,${q}) or startswith(lastIpAddress,${q}) or ipAddresses/any(a: a eq ${q}) or machineTags/any(t: contains(t,${q}))`;
}

const searchQuery = (term: string) => ({ $filter: searchFilter(term), $top: 10 });
const fetchMatches = (term: string) => {
  const query = searchQuery(term);
  return ok(api.GET('/api/machines', { params: { query } }));
};

/** Best match first: the exact name or address, then names starting with the term, then the rest (tags) in the API's order. */
function ranked(machines: Machine[], term: string): Machine[] {
  const t = term.toLowerCase();
  const rank = (m: Machine) => {
    const name = m.computerDnsName.toLowerCase();
    if (name === t || m.lastIpAddress === term) return 0;
    if (name.startsWith(t)) return 1;
    return 2;
  };
  return machines.map((m, i) => ({ m, i, r: rank(m) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.m);
}

/** The header's search box: type a name, IP address or tag, and Enter opens the best match (or pick one). */
export function DeviceSearch() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [term, setTerm] = useState('');
  const [debounced] = useDebouncedValue(term.trim(), 200);
  const found = useQuery({ queryKey: keys.machines(searchQuery(debounced)), enabled: debounced.length > 0, queryFn: () => fetchMatches(debounced), staleTime: 5000 });
  // Suggestions are for the term as typed: while a new one waits for its debounce, the previous
  // term's are not offered (the first would be highlighted, and Enter would open it).
  const current = debounced === term.trim();
  const matches = current ? ranked(found.data?.value ?? [], debounced) : [];
  const data = matches.map((m) => ({ value: m.id, label: `${m.computerDnsName}${m.lastIpAddress ? ` — ${m.lastIpAddress}` : ''}` }));

  const go = (id: string) => {
    setTerm('');
    void navigate(`/devices/${id}`);
  };

  // Enter with no suggestion highlighted opens the best match, even before the suggestions arrived;
  // a highlighted one (arrow keys) is the Select's own to open.
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== 'Enter' || e.nativeEvent.isComposing) return;
    const list = e.currentTarget.getAttribute('aria-controls');
    if (list && document.getElementById(list)?.querySelector('[data-combobox-selected]')) return;
    const t = term.trim();
    if (!t) return;
    e.preventDefault();
    void queryClient
      .fetchQuery({ queryKey: keys.machines(searchQuery(t)), queryFn: () => fetchMatches(t), staleTime: 5000 })
      .then((r) => {
        const best = ranked(r.value, t)[0];
        if (best) go(best.id);
      })
      .catch(() => undefined); // the suggestions' own query says the search failed
  };

  return (
    <Select
      aria-label="Search devices by name, IP address or tag"
      placeholder="Search devices: name, IP or tag"
      leftSection={<IconSearch size={16} />}
      searchable
      clearable
      searchValue={term}
      onSearchChange={setTerm}
      onKeyDown={onKeyDown}
      filter={({ options }) => options}
      data={data}
      value={null}
      onChange={(id) => id && go(id)}
      nothingFoundMessage={term.trim() ? (!current || found.isFetching ? 'Searching…' : found.error ? 'Search failed' : `No device matches “${debounced}”`) : undefined}
      selectFirstOptionOnChange
      w={360}
      data-testid="device-search"
    />
  );
}
